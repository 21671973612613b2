"""Openverse (api.openverse.org v1 images): anonymous or OAuth2 client credentials."""

from __future__ import annotations

import time
from typing import Any

from nolabel.components.common.settings import Settings
from nolabel.components.crawl.api_client import ApiClient
from nolabel.components.crawl.hits import Hit, SearchProvider, paged_search
from nolabel.components.crawl.providers import ProviderOptions

DEFAULT_BASE_URL = "https://api.openverse.org"
ANONYMOUS_PAGE_SIZE, AUTHED_PAGE_SIZE = 20, 500
MAX_PAGE_DEPTH = 20  # the API refuses pages beyond 20 for every client
ANONYMOUS_RATE, AUTHED_RATE = 20 / 60, 1.0  # requests per second


def licence_name(code: str | None, version: str | None) -> str:
    """A readable licence from Openverse's code and version ("by-sa", "2.0" → "CC BY-SA 2.0")."""
    if not code:
        return "unknown"
    code = str(code).lower()
    name = {"cc0": "CC0", "pdm": "Public Domain Mark"}.get(code, f"CC {code.upper()}")
    return f"{name} {version}".strip() if version else name


class OpenverseProvider(SearchProvider):
    """Openverse image search, paged within its page-size and page-depth limits."""

    name = "openverse"

    def __init__(self, settings: Settings, options: ProviderOptions) -> None:
        self.base_url = (options.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.client_id = settings.openverse_client_id
        secret = settings.openverse_client_secret
        self.client_secret = secret.get_secret_value() if secret else None
        self.authed = bool(self.client_id and self.client_secret)
        self.page_size = AUTHED_PAGE_SIZE if self.authed else ANONYMOUS_PAGE_SIZE
        rate = options.rate_per_second or (AUTHED_RATE if self.authed else ANONYMOUS_RATE)
        self.api = ApiClient(self.name, settings.user_agent_contact, rate)
        self.licences = options.licences
        self._token: str | None = None
        self._token_expiry = 0.0

    def _auth_headers(self) -> dict[str, str]:
        if not self.authed:
            return {}
        if self._token is None or time.time() > self._token_expiry - 60:
            data = self.api.request_json(
                "POST",
                f"{self.base_url}/v1/auth_tokens/token/",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            self._token = data["access_token"]
            self._token_expiry = time.time() + float(data.get("expires_in", 3600))
        return {"Authorization": f"Bearer {self._token}"}

    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        page_size = min(self.page_size, max(1, count))
        max_results = page_size * MAX_PAGE_DEPTH
        return paged_search(
            offset,
            count,
            page_size,
            lambda page, size: self._page(query, page, size),
            max_results=max_results,
        )

    def _page(self, query: str, page: int, page_size: int) -> list[Hit]:
        params: dict[str, Any] = {"q": query, "page": page, "page_size": page_size}
        if self.licences:
            params["license"] = ",".join(self.licences)
        data = self.api.request_json(
            "GET", f"{self.base_url}/v1/images/", params=params, headers=self._auth_headers()
        )
        if page > int(data.get("page_count") or page):
            return []
        return [self._hit(item, query) for item in data.get("results", []) if item.get("url")]

    def _hit(self, item: dict[str, Any], query: str) -> Hit:
        licence = licence_name(item.get("license"), item.get("license_version"))
        creator = item.get("creator") or ""
        attribution = item.get("attribution") or (
            f'"{item.get("title") or "image"}" by {creator or "unknown"}, {licence}'
        )
        return Hit(
            image_url=item["url"],
            thumbnail_url=item.get("thumbnail") or "",
            page_url=item.get("foreign_landing_url") or "",
            title=item.get("title") or "",
            width=int(item.get("width") or 0),
            height=int(item.get("height") or 0),
            licence=licence,
            attribution=attribution,
            provider=self.name,
            query=query,
        )

    def close(self) -> None:
        self.api.close()
