"""Container entrypoint: ``python -m nolabel.components.crawl crawl ...`` or ``run-json PARAMS``."""

from __future__ import annotations

from nolabel.components.common.cli import container_main
from nolabel.components.crawl.cli import register
from nolabel.components.crawl.contract import CRAWL

if __name__ == "__main__":
    container_main("nolabel crawl step", register, (CRAWL,))
