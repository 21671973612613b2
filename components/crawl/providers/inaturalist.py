"""iNaturalist observations with photos, by taxon name (licence filter, research grade)."""

from __future__ import annotations

import re
from typing import Any

from nolabel.components.common.settings import Settings
from nolabel.components.crawl.api_client import ApiClient
from nolabel.components.crawl.hits import Hit, SearchProvider, paged_search
from nolabel.components.crawl.providers import ProviderOptions

DEFAULT_BASE_URL = "https://api.inaturalist.org"
MAX_PER_PAGE = 200
MAX_RESULTS = 10_000  # the API refuses page * per_page beyond 10,000
RATE = 1.0  # iNaturalist asks for at most ~60 requests per minute
DEFAULT_LICENCES = ["cc0", "cc-by", "cc-by-sa", "cc-by-nc", "cc-by-nc-sa"]
_SIZE = re.compile(r"/(square|small|thumb|medium|original)\.(jpe?g|png)", re.IGNORECASE)


def photo_url(url: str, size: str) -> str:
    """The URL of another size of an iNaturalist photo (``square.jpg`` → ``large.jpg``)."""
    return _SIZE.sub(lambda m: f"/{size}.{m.group(2)}", url, count=1)


class INaturalistProvider(SearchProvider):
    """The first photo of each matching observation (one hit per observation)."""

    name = "inaturalist"

    def __init__(self, settings: Settings, options: ProviderOptions) -> None:
        self.base_url = (options.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api = ApiClient(
            self.name, settings.user_agent_contact, options.rate_per_second or RATE
        )
        self.licences = options.licences or DEFAULT_LICENCES
        self.research_grade = options.research_grade

    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        page_size = min(MAX_PER_PAGE, max(1, count))
        return paged_search(
            offset,
            count,
            page_size,
            lambda page, size: self._page(query, page, size),
            max_results=MAX_RESULTS,
        )

    def _page(self, query: str, page: int, per_page: int) -> list[Hit]:
        params: dict[str, Any] = {
            "taxon_name": query,
            "photos": "true",
            "photo_license": ",".join(self.licences),
            "per_page": per_page,
            "page": page,
            "order_by": "votes",
        }
        if self.research_grade:
            params["quality_grade"] = "research"
        data = self.api.request_json("GET", f"{self.base_url}/v1/observations", params=params)
        hits = []
        for observation in data.get("results", []):
            hit = self._hit(observation, query)
            hits.append(hit)
        return [h for h in hits if h.image_url]

    def _hit(self, observation: dict[str, Any], query: str) -> Hit:
        photos = [p for p in observation.get("photos") or [] if p.get("url")]
        if not photos:
            return Hit(image_url="", provider=self.name, query=query)
        photo = photos[0]
        dims = photo.get("original_dimensions") or {}
        taxon = observation.get("taxon") or {}
        licence = (photo.get("license_code") or "unknown").upper().replace("CC-", "CC ")
        return Hit(
            image_url=photo_url(photo["url"], "large"),
            thumbnail_url=photo_url(photo["url"], "square"),
            page_url=observation.get("uri") or "",
            title=taxon.get("preferred_common_name") or taxon.get("name") or query,
            width=int(dims.get("width") or 0),
            height=int(dims.get("height") or 0),
            licence=licence,
            attribution=photo.get("attribution") or "",
            provider=self.name,
            query=query,
            group=f"inaturalist:{observation.get('id')}",
        )

    def close(self) -> None:
        self.api.close()
