"""The steps a flow can run, built from the components' own contracts.

Every step is a component function ``run(params) -> result`` taking and returning its contract's
pydantic models; in a container the same function runs through
``python -m <package> <json command> PARAMS``.
"""

from __future__ import annotations

from nolabel.components.common.contracts import Step
from nolabel.components.common.errors import ConfigurationError
from nolabel.components.crawl.contract import CRAWL
from nolabel.components.detect.contract import DETECT, EVALUATE, SCORE
from nolabel.components.lime.contract import EXPLAIN
from nolabel.components.transfer.contract import TRAIN

__all__ = ["CRAWL", "DETECT", "EVALUATE", "EXPLAIN", "SCORE", "STEPS", "TRAIN", "get_step"]

STEPS: dict[str, Step] = {
    step.name: step for step in (CRAWL, TRAIN, EXPLAIN, DETECT, EVALUATE, SCORE)
}


def get_step(name: str) -> Step:
    """The step called ``name`` (a clear error for an unknown one)."""
    try:
        return STEPS[name]
    except KeyError:
        raise ConfigurationError(f"unknown step {name!r}; known: {', '.join(STEPS)}") from None
