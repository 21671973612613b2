"""Bing Image Search v7 wire format, against a configurable endpoint and key.

Microsoft retired the Bing Search APIs on 2025-08-11; this provider is for services that keep
the v7 request/response format (``/v7.0/images/search``, ``Ocp-Apim-Subscription-Key``).
"""

from __future__ import annotations

from typing import Any

from nolabel.components.common.errors import ConfigurationError
from nolabel.components.common.settings import Settings
from nolabel.components.crawl.api_client import ApiClient
from nolabel.components.crawl.hits import Hit, SearchProvider
from nolabel.components.crawl.providers import ProviderOptions

MAX_COUNT = 150
RATE = 3.0  # the S1 tier allowed 3 transactions per second


class BingProvider(SearchProvider):
    """Bing v7 image search with ``count``/``offset`` paging (``nextOffset`` honoured)."""

    name = "bing"

    def __init__(self, settings: Settings, options: ProviderOptions) -> None:
        endpoint = options.base_url or settings.bing_endpoint
        if not endpoint:
            raise ConfigurationError(
                "bing: no endpoint; set NOLABEL_BING_ENDPOINT to a Bing v7 compatible "
                "image search URL (Microsoft retired the Bing Search APIs on 2025-08-11)"
            )
        if not endpoint.rstrip("/").endswith("/images/search"):
            endpoint = endpoint.rstrip("/") + "/v7.0/images/search"
        self.endpoint = endpoint
        self.key = settings.bing_key.get_secret_value() if settings.bing_key else None
        if not self.key:
            raise ConfigurationError("bing: set NOLABEL_BING_KEY (Ocp-Apim-Subscription-Key)")
        self.api = ApiClient(
            self.name, settings.user_agent_contact, options.rate_per_second or RATE
        )

    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        hits: list[Hit] = []
        position, end = offset, offset + count
        while position < end:
            data = self.api.request_json(
                "GET",
                self.endpoint,
                params={
                    "q": query,
                    "count": min(MAX_COUNT, end - position),
                    "offset": position,
                    "safeSearch": "Strict",
                },
                headers={"Ocp-Apim-Subscription-Key": self.key},
            )
            values = data.get("value") or []
            for index, item in enumerate(values):
                if item.get("contentUrl") and position + index < end:
                    hits.append(self._hit(item, query, position + index))
            next_offset = int(data.get("nextOffset") or position + len(values))
            if not values or next_offset <= position:
                break
            position = next_offset
        return hits

    def _hit(self, item: dict[str, Any], query: str, rank: int) -> Hit:
        return Hit(
            image_url=item["contentUrl"],
            thumbnail_url=item.get("thumbnailUrl") or "",
            page_url=item.get("hostPageUrl") or "",
            title=item.get("name") or "",
            width=int(item.get("width") or 0),
            height=int(item.get("height") or 0),
            licence="unknown",
            attribution=item.get("hostPageDisplayUrl") or item.get("hostPageUrl") or "",
            provider=self.name,
            query=query,
            rank=rank,
        )

    def close(self) -> None:
        self.api.close()
