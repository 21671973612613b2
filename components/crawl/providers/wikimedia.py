"""Wikimedia Commons: file-namespace search with imageinfo URLs (serial requests, ``maxlag``)."""

from __future__ import annotations

import html
import re
import time
from typing import Any

from nolabel.components.common.errors import ConfigurationError
from nolabel.components.common.settings import Settings
from nolabel.components.crawl.api_client import ApiClient, retry_after_seconds
from nolabel.components.crawl.hits import Hit, SearchProvider
from nolabel.components.crawl.providers import ProviderOptions

DEFAULT_BASE_URL = "https://commons.wikimedia.org/w/api.php"
MAX_LIMIT = 50  # gsrlimit for generators with prop=imageinfo|extmetadata
RATE = 1.0  # serial requests, one per second
IMAGE_MIMES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp"}
_TAG = re.compile(r"<[^>]+>")


def plain_text(value: str | None) -> str:
    """Extmetadata values are HTML fragments: strip tags and entities."""
    return " ".join(html.unescape(_TAG.sub(" ", value or "")).split())


class WikimediaProvider(SearchProvider):
    """Commons search (``generator=search``, namespace 6) following ``continue`` tokens."""

    name = "wikimedia"

    def __init__(self, settings: Settings, options: ProviderOptions) -> None:
        self.base_url = options.base_url or DEFAULT_BASE_URL
        self.api = ApiClient(
            self.name, settings.user_agent_contact, options.rate_per_second or RATE
        )
        self.maxlag_retries = 5
        self.maxlag_wait = 5.0  # seconds to wait when the servers report replication lag

    def _request(self, params: dict[str, Any]) -> dict[str, Any]:
        for _ in range(self.maxlag_retries + 1):
            data = self.api.request_json("GET", self.base_url, params=params)
            error = data.get("error") or {}
            if error.get("code") != "maxlag":
                if error:
                    raise ConfigurationError(f"wikimedia: {error.get('code')}: {error.get('info')}")
                return data
            time.sleep(min(retry_after_seconds(str(error.get("lag") or ""), 5.0), self.maxlag_wait))
        raise ConfigurationError("wikimedia: database lag too high (maxlag), try later")

    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        """Usable hits among results ``offset .. offset+count-1`` (non-images are skipped)."""
        hits: list[Hit] = []
        params: dict[str, Any] = {
            "action": "query",
            "generator": "search",
            "gsrsearch": query,
            "gsrnamespace": 6,
            "gsroffset": offset,
            "prop": "imageinfo",
            "iiprop": "url|size|mime|extmetadata",
            "iiurlwidth": 320,
            "maxlag": 5,
            "format": "json",
            "formatversion": 2,
        }
        position, end = offset, offset + count
        while position < end:
            params["gsrlimit"] = min(MAX_LIMIT, end - position)
            data = self._request(params)
            pages = sorted(
                (data.get("query") or {}).get("pages") or [], key=lambda p: p.get("index", 0)
            )
            for page in pages:
                hit = self._hit(page, query, position)
                position += 1
                if hit is not None and hit.rank < end:
                    hits.append(hit)
            cont = data.get("continue")
            if not pages or not cont or "gsroffset" not in cont:
                break
            params.update(cont)
            position = int(cont["gsroffset"])
        return hits

    def _hit(self, page: dict[str, Any], query: str, rank: int) -> Hit | None:
        info = (page.get("imageinfo") or [{}])[0]
        if not info.get("url") or info.get("mime", "image/jpeg") not in IMAGE_MIMES:
            return None
        meta = info.get("extmetadata") or {}

        def field(name: str) -> str:
            return plain_text((meta.get(name) or {}).get("value"))

        title = page.get("title", "")
        author = field("Artist")
        licence = field("LicenseShortName") or "unknown"
        return Hit(
            image_url=info["url"],
            thumbnail_url=info.get("thumburl") or "",
            page_url=info.get("descriptionurl") or "",
            title=field("ObjectName") or title.removeprefix("File:"),
            width=int(info.get("width") or 0),
            height=int(info.get("height") or 0),
            licence=licence,
            attribution=f"{author or 'unknown author'}, {licence}, via Wikimedia Commons",
            provider=self.name,
            query=query,
            rank=rank,
        )

    def close(self) -> None:
        self.api.close()
