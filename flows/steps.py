"""The steps a flow can run, declared in the components' own contracts, by name.

The flows use the :class:`Step` objects themselves (``CRAWL``, ``TRAIN``...); this table is for
looking one up by the name a person or a container gives.
"""

from __future__ import annotations

from typing import Any

from nolabel.components.common.contracts import Step
from nolabel.components.common.errors import ConfigurationError
from nolabel.components.crawl.contract import CRAWL
from nolabel.components.detect.contract import DETECT, EVALUATE, SCORE
from nolabel.components.lime.contract import EXPLAIN
from nolabel.components.transfer.contract import TRAIN

__all__ = ["CRAWL", "DETECT", "EVALUATE", "EXPLAIN", "SCORE", "STEPS", "TRAIN", "get_step"]

STEPS: dict[str, Step[Any, Any]] = {
    step.name: step for step in (CRAWL, TRAIN, EXPLAIN, DETECT, EVALUATE, SCORE)
}


def get_step(name: str) -> Step[Any, Any]:
    """The step called ``name`` (a clear error for an unknown one)."""
    try:
        return STEPS[name]
    except KeyError:
        raise ConfigurationError(f"unknown step {name!r}; known: {', '.join(STEPS)}") from None
