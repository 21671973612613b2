"""``nolabel crawl``: its options are ``CrawlParams``' fields."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import model_command
from nolabel.components.crawl.contract import CRAWL, CrawlParams

# Flags whose names differ from the field's (kept from earlier releases).
FLAG_NAMES = {
    "licences": "--licence",
    "near_duplicate_distance": "--near-distance",
    "research_grade": "--research-grade/--any-grade",
}


def register(app: typer.Typer) -> None:
    """Add ``crawl`` to the top-level app."""
    doc = "Search a provider, download, check and dedupe images into a labelled dataset."
    app.command("crawl")(model_command(CrawlParams, CRAWL, doc, FLAG_NAMES))
