"""Search hits and the provider interface every image source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from pydantic import BaseModel


class Hit(BaseModel):
    """One image search result."""

    image_url: str
    thumbnail_url: str = ""
    page_url: str = ""
    title: str = ""
    width: int = 0
    height: int = 0
    licence: str = "unknown"
    attribution: str = ""
    provider: str = ""
    query: str = ""
    rank: int = 0
    group: str = ""


class SearchProvider(ABC):
    """An image source: ``search(query, offset, count)`` returns up to ``count`` hits.

    ``rank`` of a hit is its position in the provider's result list for the query (0-based),
    so ``offset`` paging gives ranks ``offset .. offset+count-1``.
    """

    name: str = "provider"

    @abstractmethod
    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        """Up to ``count`` hits for ``query`` starting at result ``offset``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""


def paged_search(
    offset: int,
    count: int,
    page_size: int,
    fetch_page: Callable[[int, int], list[Hit]],
    max_results: int | None = None,
) -> list[Hit]:
    """Serve ``offset/count`` from an API paged as ``fetch_page(page (1-based), page_size)``.

    Ranks are assigned here from the page position; stops at a short page or ``max_results``.
    """
    end = offset + count if max_results is None else min(offset + count, max_results)
    hits: list[Hit] = []
    page = offset // page_size + 1
    while (page - 1) * page_size < end:
        results = fetch_page(page, page_size)
        start = (page - 1) * page_size
        for index, hit in enumerate(results):
            rank = start + index
            if offset <= rank < end:
                hits.append(hit.model_copy(update={"rank": rank}))
        if len(results) < page_size:
            break
        page += 1
    return hits
