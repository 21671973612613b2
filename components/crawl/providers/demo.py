"""Offline demo provider: deterministic synthetic photos behind ``demo://`` URLs."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlencode, urlparse

from nolabel.components.common.errors import InputError
from nolabel.components.crawl.hits import Hit, SearchProvider
from nolabel.components.crawl.providers import ProviderOptions

SCHEME = "demo"


def demo_seed(seed: int, query: str, rank: int) -> int:
    """A stable per-image seed from the crawl seed, the query and the rank."""
    digest = hashlib.sha256(f"{seed}\x00{query}\x00{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def demo_url(positive: bool, seed: int, width: int, height: int) -> str:
    """The ``demo://`` URL the downloader renders in-process."""
    label = "positive" if positive else "negative"
    return f"{SCHEME}://{label}/{seed}?{urlencode({'w': width, 'h': height})}"


def parse_demo_url(url: str) -> tuple[bool, int, int, int]:
    """``(positive, seed, width, height)`` of a ``demo://`` URL."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    try:
        if parsed.scheme != SCHEME or parsed.netloc not in ("positive", "negative"):
            raise ValueError(url)
        width, height = int(query.get("w", ["256"])[0]), int(query.get("h", ["192"])[0])
        if not (16 <= width <= 4096 and 16 <= height <= 4096):
            raise ValueError(url)
        return parsed.netloc == "positive", int(parsed.path.strip("/")), width, height
    except ValueError:
        raise InputError(f"invalid demo URL {url!r}") from None


class DemoProvider(SearchProvider):
    """Positive queries yield spotted animals, any other query backgrounds and distractors."""

    name = "demo"

    def __init__(self, options: ProviderOptions) -> None:
        self.positive_queries = set(options.positive_queries)
        self.seed = options.seed
        self.width, self.height = options.image_width, options.image_height

    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        positive = query in self.positive_queries
        hits = []
        for rank in range(offset, offset + count):
            url = demo_url(positive, demo_seed(self.seed, query, rank), self.width, self.height)
            hits.append(
                Hit(
                    image_url=url,
                    page_url=url,
                    title=f"{query} #{rank}",
                    width=self.width,
                    height=self.height,
                    licence="CC0 1.0",
                    attribution="synthetic image by the nolabel demo generator",
                    provider=self.name,
                    query=query,
                    rank=rank,
                )
            )
        return hits
