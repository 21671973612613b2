"""A step's contract, declared once in its light ``contract`` module: what it takes and returns.

The CLI subcommand, the container entrypoint (``python -m <package> <json command> PARAMS``) and
the flows' step table are all built from these declarations; the step's code is imported only
when it runs, so reading a contract costs no heavy import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from nolabel.components.common.errors import ConfigurationError, InputError


class Contract(BaseModel):
    """Base of every step's Params and Result: an unknown or misspelled key is an error."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # schema built on first use


@dataclass(frozen=True)
class Step:
    """One runnable step: ``run(params: Params) -> Result``, in process or in a container."""

    name: str  # the flows' name and the CLI command
    params: type[BaseModel]
    result: type[BaseModel]
    run: str  # "package.module:function", imported when the step runs
    image: str  # container image name, without registry and tag
    json_command: str = "run-json"  # the entrypoint's subcommand taking the params as JSON
    gpu: bool = False  # may use a GPU (kubernetes: settings.k8s_gpu)

    @property
    def package(self) -> str:
        """The step's package: ``python -m <package>`` is its container entrypoint."""
        module = self.run.partition(":")[0]
        return module.rsplit(".", 1)[0]

    def load_function(self) -> Any:
        """The step's ``run`` function, imported now."""
        module_name, _, attribute = self.run.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(f"step code {module_name} is not installed: {exc}") from None
        try:
            return getattr(module, attribute)
        except AttributeError:
            raise ConfigurationError(f"{module_name} has no {attribute}") from None

    def __call__(self, params: BaseModel) -> BaseModel:
        """Run the step in this process."""
        return self.load_function()(params)

    def check_params(self, values: dict[str, Any] | BaseModel) -> BaseModel:
        """``values`` validated as this step's Params (a clear error naming the step)."""
        return _validated(self.params, values, f"step {self.name} params")

    def check_result(self, values: dict[str, Any] | BaseModel) -> BaseModel:
        """``values`` validated as this step's Result."""
        return _validated(self.result, values, f"step {self.name} result")


def _validated(model: type[BaseModel], values: dict[str, Any] | BaseModel, what: str) -> BaseModel:
    if isinstance(values, model):
        return values
    if isinstance(values, BaseModel):
        values = values.model_dump()
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise InputError(f"invalid {what}: {problems(exc)}") from None


def problems(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """A validation error on one line; ``names`` renames fields (e.g. to their CLI flags)."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "input"
        parts.append(f"{(names or {}).get(where, where)}: {error.get('msg')}")
    return "; ".join(parts)
