"""Image search providers behind one interface (``SearchProvider.search``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from nolabel.components.common.errors import InputError
from nolabel.components.common.names import PROVIDERS
from nolabel.components.common.settings import Settings, get_settings
from nolabel.components.crawl.hits import SearchProvider


class ProviderOptions(BaseModel):
    """Everything a provider may need besides the settings."""

    base_url: str | None = None  # override the API endpoint (compatible services, tests)
    rate_per_second: float | None = None  # override the published rate limit
    folder_root: Path | None = None
    positive_queries: list[str] = []
    seed: int = 0
    image_width: int = 256
    image_height: int = 192
    licences: list[str] = []  # licence filter where the provider supports one
    research_grade: bool = True


def make_provider(
    name: str, options: ProviderOptions | None = None, settings: Settings | None = None
) -> SearchProvider:
    """The provider called ``name``."""
    options = options or ProviderOptions()
    settings = settings or get_settings()
    if name == "openverse":
        from nolabel.components.crawl.providers.openverse import OpenverseProvider

        return OpenverseProvider(settings, options)
    if name == "wikimedia":
        from nolabel.components.crawl.providers.wikimedia import WikimediaProvider

        return WikimediaProvider(settings, options)
    if name == "inaturalist":
        from nolabel.components.crawl.providers.inaturalist import INaturalistProvider

        return INaturalistProvider(settings, options)
    if name == "bing":
        from nolabel.components.crawl.providers.bing import BingProvider

        return BingProvider(settings, options)
    if name == "folder":
        from nolabel.components.crawl.providers.folder import FolderProvider

        return FolderProvider(options)
    if name == "demo":
        from nolabel.components.crawl.providers.demo import DemoProvider

        return DemoProvider(options)
    raise InputError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")
