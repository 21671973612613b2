"""``python -m nolabel.components.serve [serve] [--host --port ...]``: container entrypoint."""

from __future__ import annotations

import sys

from nolabel.components.common.cli import container_main
from nolabel.components.serve.cli import register
from nolabel.components.serve.contract import SERVE


def main(argv: list[str] | None = None) -> None:
    """Run the serve app; no arguments (or only options) means ``serve``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-") and args[0] not in ("--help", "-h"):
        args.insert(0, "serve")
    help_text = "nolabel serve: REST predictions from the registered models."
    container_main(help_text, register, (SERVE,), args)


if __name__ == "__main__":
    main()
