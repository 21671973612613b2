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

from nolabel.components.common.contracts import Options, Step, problems
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


# A field's flag names, written out whole: one declaration, or several names of one option.
FlagNames = dict[str, str | tuple[str, ...]]


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


def _flag_decls(name: str, annotation: Any, rename: FlagNames) -> tuple[str, ...]:
    if name in rename:  # written out whole: "--all", "--resume/--restart", ("--new", "--old")
        given = rename[name]
        return (given,) if isinstance(given, str) else tuple(given)
    flag = "--" + name.replace("_", "-")
    return (f"{flag}/--no-{flag[2:]}",) if _base_type(annotation) is bool else (flag,)


def _base_type(annotation: Any) -> Any:
    """``X`` of ``X | None``; the annotation itself otherwise."""
    if get_origin(annotation) in (Union, UnionType):
        others = [a for a in get_args(annotation) if a is not type(None)]
        if len(others) == 1:
            return others[0]
    return annotation


def _is_json(annotation: Any) -> bool:
    """A dict or a model not flattened: given on the command line as a JSON object."""
    return get_origin(annotation) is dict or _is_model(annotation, Options)


def _is_model(annotation: Any, base: type[BaseModel] = BaseModel) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, base)


def model_flags(model: type[BaseModel], rename: FlagNames | None = None) -> list[Flag]:
    """Every field of ``model`` as a flag; a nested model's fields are flattened (the outer
    model's field of the same name wins), but :class:`Options` are one JSON object."""
    rename = rename or {}
    flags: list[Flag] = []
    for name, info in model.model_fields.items():
        inner = _base_type(info.annotation)
        if _is_model(inner) and not _is_json(inner):
            for sub, sub_info in inner.model_fields.items():
                if sub not in model.model_fields:
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
    elif _is_json(inner):
        annotation, kwargs["help"] = str, help_text + " (JSON object)"
    else:
        annotation = inner
    if flag.required:
        return annotation, typer.Option(..., *flag.decls, **kwargs)
    default = info.get_default(call_default_factory=True)
    if isinstance(default, Options):  # none given: no default worth showing
        default = None
    if flag.parent is None and info.default_factory is None and default is not None:
        return annotation, typer.Option(default, *flag.decls, **kwargs)
    # None, a nested or a factory default: left out unless given, so the model's default applies
    if default not in (None, PydanticUndefined):
        kwargs["show_default"] = str(default)
    return Optional[annotation], typer.Option(None, *flag.decls, **kwargs)  # noqa: UP045


def model_values(flags: list[Flag], given: dict[str, Any]) -> dict[str, Any]:
    """The command line's values as the model's input (unset optional ones left out)."""
    values: dict[str, Any] = {}
    for flag in flags:
        value = given[flag.field]
        if value is None and not flag.required:
            continue
        if isinstance(value, str) and _is_json(_base_type(flag.info.annotation)):
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
    rename: FlagNames | None = None,
) -> Callable[..., None]:
    """A Typer command whose options are ``model``'s fields: it validates them into the model,
    calls ``run(params)`` and prints the result as one JSON line."""
    flags = model_flags(model, rename)
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
