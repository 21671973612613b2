"""The steps a flow can run: where each one's code, params model and container image live.

Every step is a component function ``run(params) -> result`` taking and returning pydantic
models; in a container the same function runs through ``python -m <module> <command> JSON``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from components.common.errors import ConfigurationError


@dataclass(frozen=True)
class StepTarget:
    """One runnable step: its in-process function and its container entrypoint."""

    name: str
    function: str  # "package.module:function"
    params_class: str  # "package.module:ParamsClass"
    module: str  # run in a container as ``python -m <module> <command> '<params JSON>'``
    image: str  # image name, without registry and tag
    command: str = "run-json"
    gpu: bool = False  # may use a GPU (kubernetes: settings.k8s_gpu)

    def load_function(self) -> Any:
        """The step's ``run`` function, imported now (heavy imports stay out of flow import)."""
        return _load(self.function)

    def load_params_class(self) -> Any:
        """The step's pydantic params model."""
        return _load(self.params_class)


def _load(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"step code {module_name} is not installed: {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigurationError(f"{module_name} has no {attribute}") from None


STEPS: dict[str, StepTarget] = {
    target.name: target
    for target in (
        StepTarget(
            "crawl",
            "components.crawl.step:run",
            "components.crawl.step:CrawlParams",
            "components.crawl",
            "crawl",
        ),
        StepTarget(
            "train",
            "components.transfer.step:run",
            "components.transfer.step:TrainParams",
            "components.transfer",
            "spark",
        ),
        StepTarget(
            "explain",
            "components.lime.step:run",
            "components.lime.step:ExplainParams",
            "components.lime",
            "spark",
        ),
        StepTarget(
            "detect",
            "components.detect.step:run",
            "components.detect.step:DetectTrainParams",
            "components.detect",
            "detect",
            gpu=True,
        ),
        StepTarget(
            "evaluate",
            "components.detect.step:run_eval",
            "components.detect.step:DetectEvalParams",
            "components.detect",
            "detect",
            command="eval-json",
            gpu=True,
        ),
        StepTarget(
            "score",
            "components.detect.score:run_score",
            "components.detect.score:ScoreParams",
            "components.detect",
            "detect",
            command="score-json",
            gpu=True,
        ),
    )
}


def get_step(name: str) -> StepTarget:
    """The step called ``name`` (a clear error for an unknown one)."""
    try:
        return STEPS[name]
    except KeyError:
        raise ConfigurationError(f"unknown step {name!r}; known: {', '.join(STEPS)}") from None
