"""Container entrypoint: ``python -m components.crawl crawl ...`` or ``run-json PARAMS``."""

from __future__ import annotations

from components.common.cli import add_json_entrypoint, new_app, run_app
from components.crawl.cli import register


def main() -> None:
    """Run the crawl step's own CLI."""
    from components.crawl.step import CrawlParams, run

    app = new_app("nolabel crawl step")
    register(app)
    add_json_entrypoint(app, run, CrawlParams)
    run_app(app)


if __name__ == "__main__":
    main()
