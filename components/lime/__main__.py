"""Container entrypoint: ``python -m nolabel.components.lime explain|run-json``."""

from __future__ import annotations

from nolabel.components.common.cli import container_main
from nolabel.components.lime.cli import register
from nolabel.components.lime.contract import EXPLAIN

if __name__ == "__main__":
    container_main("nolabel LIME step: boxes from classifier explanations.", register, (EXPLAIN,))
