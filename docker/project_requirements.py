"""Print the project's dependencies (and those of the extras named) from pyproject.toml.

The images install these in a layer of their own before the project's code arrives, so that a
code change rebuilds only the small layer that installs the project:
    python project_requirements.py pyproject.toml detect > requirements.txt
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The dependencies pyproject.toml declares, plus those of each extra named."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(set(extras) - set(optional))
    if unknown:
        raise SystemExit(f"{pyproject}: no extra {', '.join(unknown)} (has: {', '.join(optional)})")
    found = list(project.get("dependencies", []))
    for extra in extras:
        found += optional[extra]
    return found


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: project_requirements.py PYPROJECT [EXTRA ...]")
    print("\n".join(requirements(Path(argv[0]), argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
