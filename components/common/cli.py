"""CLI plumbing shared by every step: one JSON line out, one-line errors, container entrypoint."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import UnionType
from typing import Any, Literal, Optional, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from nolabel.components.common.contracts import Step, problems
from nolabel.components.common.errors import InputError, NolabelError

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


def emit(result: BaseModel | dict[str, Any]) -> None:
    """Print ``result`` as one JSON line on stdout (the last line a command prints)."""
    if isinstance(result, BaseModel):
        line = result.model_dump_json()
    else:
        line = json.dumps(result, default=str, separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def new_app(help_text: str) -> typer.Typer:
    """A Typer app configured like every nolabel app."""
    app = typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _group() -> None:
        """Keep subcommands as subcommands even when only one is registered."""

    return app


def run_app(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run a Typer app, turning user-facing errors into one ``error:`` line and exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except NolabelError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    except ValidationError as exc:
        sys.stderr.write(f"error: invalid parameters: {problems(exc)}\n")
        raise SystemExit(2) from None


def add_json_entrypoint(app: typer.Typer, step: Step) -> None:
    """Add ``<step.json_command> PARAMS`` (JSON text or @file) printing the result as JSON.

    Containers launched by the flows use this: params in, result out, nothing else decided here.
    """

    @app.command(step.json_command, help=f"Run {step.name} with {step.params.__name__} as JSON.")
    def _run_json(params: str = typer.Argument(..., help="JSON object or @path")) -> None:
        text = params
        if params.startswith("@"):
            with open(params[1:], encoding="utf-8") as handle:
                text = handle.read()
        emit(step(step.params.model_validate_json(text)))


def container_main(
    help_text: str,
    register: Callable[[typer.Typer], None],
    steps: tuple[Step, ...],
    argv: list[str] | None = None,
) -> None:
    """A step package's ``python -m`` entrypoint: its CLI commands plus one JSON entry a step."""
    app = new_app(help_text)
    register(app)
    for step in steps:
        add_json_entrypoint(app, step)
    run_app(app, argv)


# --- CLI options generated from a Params model: each parameter is declared once, in the model.


@dataclass(frozen=True)
class Flag:
    """How one model field appears on the command line."""

    field: str
    parent: str | None  # the nested model's field (its options are flattened)
    info: FieldInfo
    decls: tuple[str, ...]

    @property
    def required(self) -> bool:
        return self.parent is None and self.info.is_required()


def _flag_decls(name: str, annotation: Any, rename: dict[str, str]) -> tuple[str, ...]:
    given = rename.get(name)
    if given:
        return tuple(given.split(" "))
    flag = "--" + name.replace("_", "-")
    if _base_type(annotation) is bool:
        return (f"{flag}/--no-{name.replace('_', '-')}",)
    return (flag,)


def _base_type(annotation: Any) -> Any:
    """``X`` of ``X | None``; the annotation itself otherwise."""
    if get_origin(annotation) in (Union, UnionType):
        others = [a for a in get_args(annotation) if a is not type(None)]
        if len(others) == 1:
            return others[0]
    return annotation


def model_flags(
    model: type[BaseModel], rename: dict[str, str] | None = None, exclude: tuple[str, ...] = ()
) -> list[Flag]:
    """Every field of ``model`` as a flag; a nested model's fields are flattened (the outer
    model's field of the same name wins)."""
    rename = rename or {}
    flags: list[Flag] = []
    names = set(model.model_fields) - set(exclude)
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        inner = _base_type(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            for sub, sub_info in inner.model_fields.items():
                if sub not in names and sub not in exclude:
                    decls = _flag_decls(sub, sub_info.annotation, rename)
                    flags.append(Flag(sub, name, sub_info, decls))
            continue
        flags.append(Flag(name, None, info, _flag_decls(name, info.annotation, rename)))
    return flags


def _bounds(info: FieldInfo) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = []
    for item in info.metadata:
        for key, sign in words.items():
            value = getattr(item, key, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return f" ({', '.join(parts)})" if parts else ""


def _option(flag: Flag) -> tuple[Any, Any]:
    """(annotation, typer.Option) for one flag; given values are checked by the model."""
    info = flag.info
    inner = _base_type(info.annotation)
    help_text = (info.description or "") + _bounds(info)
    kwargs: dict[str, Any] = {"help": help_text}
    if get_origin(inner) is Literal:  # a choice: the model names the choices in its error
        annotation: Any = str
        kwargs["help"] = f"{help_text} One of: {', '.join(map(str, get_args(inner)))}."
    elif get_origin(inner) is list:
        annotation = list[get_args(inner)[0] if get_args(inner) else str]
    elif get_origin(inner) is dict or (isinstance(inner, type) and issubclass(inner, BaseModel)):
        annotation, kwargs["help"] = str, help_text + " (JSON object)"
    else:
        annotation = inner
    if flag.required:
        return annotation, typer.Option(..., *flag.decls, **kwargs)
    default = None if info.default_factory or flag.parent else info.default
    if default is PydanticUndefined:
        default = None
    if default is None and not (flag.parent or info.default_factory):
        return Optional[annotation], typer.Option(None, *flag.decls, **kwargs)  # noqa: UP045
    if default is None:  # a nested or factory default: shown, left to the model
        shown = (
            info.get_default(call_default_factory=True)
            if flag.parent is None
            else _nested_default(flag)
        )
        kwargs["show_default"] = str(shown)
        return Optional[annotation], typer.Option(None, *flag.decls, **kwargs)  # noqa: UP045
    return annotation, typer.Option(default, *flag.decls, **kwargs)


def _nested_default(flag: Flag) -> Any:
    return flag.info.get_default(call_default_factory=True)


def model_values(flags: list[Flag], given: dict[str, Any]) -> dict[str, Any]:
    """The command line's values as the model's input (unset optional ones left out)."""
    values: dict[str, Any] = {}
    for flag in flags:
        value = given[flag.field]
        if value is None and not flag.required:
            continue
        inner = _base_type(flag.info.annotation)
        if isinstance(value, str) and (
            get_origin(inner) is dict or (isinstance(inner, type) and issubclass(inner, BaseModel))
        ):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputError(f"{flag.decls[0]}: not a JSON object: {exc}") from None
        target = values.setdefault(flag.parent, {}) if flag.parent else values
        target[flag.field] = value
    return values


def model_command(
    model: type[BaseModel],
    run: Callable[[Any], Any],
    doc: str,
    rename: dict[str, str] | None = None,
    exclude: tuple[str, ...] = (),
) -> Callable[..., None]:
    """A Typer command whose options are ``model``'s fields: it validates them into the model,
    calls ``run(params)`` and prints the result as one JSON line."""
    flags = model_flags(model, rename, exclude)
    parameters, annotations = [], {}
    for flag in flags:
        annotation, option = _option(flag)
        kind = inspect.Parameter.KEYWORD_ONLY
        parameters.append(
            inspect.Parameter(flag.field, kind, default=option, annotation=annotation)
        )
        annotations[flag.field] = annotation
    flag_names = {
        (f"{f.parent}.{f.field}" if f.parent else f.field): f.decls[0].split("/")[0] for f in flags
    }

    def command(**given: Any) -> None:
        try:
            params = model.model_validate(model_values(flags, given))
        except ValidationError as exc:
            raise InputError(f"invalid parameters: {problems(exc, flag_names)}") from None
        emit(run(params))

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    command.__doc__ = doc
    command.__name__ = model.__name__
    return command
