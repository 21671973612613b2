"""Offline folder provider: a query names a sub-folder of a root; paging over its files."""

from __future__ import annotations

import json
from pathlib import Path

from nolabel.components.common.errors import InputError
from nolabel.components.common.images import list_images
from nolabel.components.crawl.hits import Hit, SearchProvider
from nolabel.components.crawl.providers import ProviderOptions


def read_sidecar(image: Path) -> dict[str, str]:
    """Optional ``<file>.json`` next to an image: licence, attribution, page_url, title."""
    sidecar = image.with_name(image.name + ".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items() if isinstance(v, str | int | float)}


class FolderProvider(SearchProvider):
    """Images of ``root/<query>/`` in sorted order, as ``file://`` URLs."""

    name = "folder"

    def __init__(self, options: ProviderOptions) -> None:
        if options.folder_root is None:
            raise InputError("the folder provider needs --folder-root DIR")
        self.root = Path(options.folder_root).expanduser().resolve()
        if not self.root.is_dir():
            raise InputError(f"folder root {self.root} is not a directory")
        self._listing: dict[str, list[Path]] = {}

    def folder(self, query: str) -> Path:
        """The sub-folder a query names (never outside the root)."""
        path = (self.root / query).resolve()
        if not query or not path.is_relative_to(self.root) or path == self.root:
            raise InputError(f"query {query!r} does not name a sub-folder of {self.root}")
        if not path.is_dir():
            raise InputError(f"no folder {query!r} under {self.root}")
        return path

    def search(self, query: str, offset: int, count: int) -> list[Hit]:
        if query not in self._listing:
            self._listing[query] = list_images(self.folder(query), recursive=True)
        files = self._listing[query][offset : offset + count]
        hits = []
        for rank, path in enumerate(files, start=offset):
            extra = read_sidecar(path)
            hits.append(
                Hit(
                    image_url=path.as_uri(),
                    page_url=extra.get("page_url", ""),
                    title=extra.get("title", path.stem),
                    licence=extra.get("licence", "unknown"),
                    attribution=extra.get("attribution", ""),
                    provider=self.name,
                    query=query,
                    rank=rank,
                )
            )
        return hits
