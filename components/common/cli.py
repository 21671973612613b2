"""CLI plumbing shared by every step: one JSON line out, one-line errors, container entrypoint."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from components.common.errors import NolabelError

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


def validation_message(exc: ValidationError) -> str:
    """A compact one-line description of a pydantic validation error."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "input"
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


def run_app(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run a Typer app, turning user-facing errors into one ``error:`` line and exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except NolabelError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    except ValidationError as exc:
        sys.stderr.write(f"error: invalid parameters: {validation_message(exc)}\n")
        raise SystemExit(2) from None


def add_json_entrypoint(
    app: typer.Typer, run: Callable[[P], R], params_type: type[P], name: str = "run-json"
) -> None:
    """Add ``run-json PARAMS`` (params as JSON text or @file) that prints the result as JSON.

    Containers launched by the flows use this: params in, result out, nothing else decided here.
    """

    @app.command(name, help=f"Run with {params_type.__name__} given as JSON (or @file.json).")
    def _run_json(params: str = typer.Argument(..., help="JSON object or @path")) -> None:
        text = params
        if params.startswith("@"):
            with open(params[1:], encoding="utf-8") as handle:
                text = handle.read()
        emit(run(params_type.model_validate_json(text)))
