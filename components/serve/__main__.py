"""``python -m components.serve [serve] [--host --port --workers]``: the container entrypoint."""

from __future__ import annotations

import sys

from components.common.cli import add_json_entrypoint, new_app, run_app
from components.serve.cli import register
from components.serve.step import ServeParams, run


def main(argv: list[str] | None = None) -> None:
    """Run the serve app; no arguments (or only options) means ``serve``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-") and args[0] not in ("--help", "-h"):
        args.insert(0, "serve")
    app = new_app("nolabel serve: REST predictions from the registered models.")
    register(app)
    add_json_entrypoint(app, run, ServeParams)
    run_app(app, args)


if __name__ == "__main__":
    main()
