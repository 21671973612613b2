"""A step's contract, declared once in its light ``contract`` module: what it takes and returns.

The CLI subcommand, the container entrypoint (``python -m <package> <json command> PARAMS``) and
the flows' steps are all built from these declarations; the step's code is imported only when
it runs, so reading a contract costs no heavy import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from nolabel.components.common.errors import InputError


class Contract(BaseModel):
    """Base of every step's Params and Result: an unknown or misspelled key is an error."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # schema built on first use


class Options(Contract):
    """Some of a step's Params fields, given together (a flow's ``*_options``): on the command
    line one JSON object, not flattened into flags."""


def options_model(
    params: type[Contract], leave_out: Iterable[str], name: str, module: str
) -> type[Options]:
    """``params`` less the fields ``leave_out`` (those a caller fills in): every other field as
    ``params`` declares it (type, default, bounds, help). ``params``' model validators run when
    its Params are built from these values."""
    left_out = set(leave_out)
    unknown = left_out - set(params.model_fields)
    if unknown:
        raise TypeError(f"{params.__name__} has no fields {sorted(unknown)}")
    fields: dict[str, Any] = {
        field: (info.annotation, FieldInfo.merge_field_infos(info))
        for field, info in params.model_fields.items()
        if field not in left_out
    }
    doc = f"Any field of {params.__name__} but {', '.join(sorted(left_out)) or 'none'}."
    return create_model(name, __base__=Options, __module__=module, __doc__=doc, **fields)


P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


@dataclass
class Step(Generic[P, R]):
    """One runnable step: its function ``run(params: P) -> R``, in process or in a container.

    Name, Params, Result and container package are read off ``run`` (its name, annotations and
    module), so a step is declared once. In a light ``contract`` module ``run`` is a function
    that imports the step's code when called; ``Step`` itself imports nothing.
    """

    run: Callable[[P], R]
    image: str  # container image name, without registry and tag
    json_command: str = "run-json"  # the entrypoint's subcommand taking the params as JSON
    gpu: bool = False  # may use a GPU (kubernetes: settings.k8s_gpu)
    name: str = field(init=False)  # the flows' name and the CLI command: ``run.__name__``
    package: str = field(init=False)  # ``python -m <package>`` is the container entrypoint
    params: type[P] = field(init=False)
    result: type[R] = field(init=False)

    def __post_init__(self) -> None:
        hints = get_type_hints(self.run)
        self.params, self.result = hints["params"], hints["return"]
        self.name = self.run.__name__
        self.package = self.run.__module__.rsplit(".", 1)[0]

    def __call__(self, params: P) -> R:
        """Run the step in this process."""
        return self.run(params)

    def check_params(self, values: dict[str, Any] | BaseModel) -> P:
        """``values`` validated as this step's Params (a clear error naming the step)."""
        return _validated(self.params, values, f"step {self.name} params")

    def check_result(self, values: dict[str, Any] | BaseModel) -> R:
        """``values`` validated as this step's Result."""
        return _validated(self.result, values, f"step {self.name} result")


def _validated(model: type[M], values: dict[str, Any] | BaseModel, what: str) -> M:
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
