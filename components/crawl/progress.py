"""Durable crawl progress: append-only parts under ``datasets/NAME/.progress/`` in the store.

Each finished URL (stored image or failure) lands in a small JSON-lines part written right
after it completes, so a killed crawl loses only the URLs in flight. The parts are folded
into one Parquet part at the end of a run; the latest record per URL wins.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from typing import Any

import pandas as pd

from nolabel.components.common.datasets import dataset_prefix
from nolabel.components.common.store import ArtifactStore

RECORD_COLUMNS = (
    "url",
    "status",  # "ok" | "failed"
    "reason",
    "detail",
    "permanent",
    "sha256",
    "width",
    "height",
    "phash",
    "nbytes",
    "truth",  # JSON list of boxes [x, y, w, h] for demo images, else ""
    "finished_at",
)


def empty_records() -> pd.DataFrame:
    """A records frame with no rows."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in RECORD_COLUMNS})


class ProgressLog:
    """Write and read the per-URL outcome log of one dataset."""

    def __init__(self, store: ArtifactStore, dataset: str) -> None:
        self.store = store
        self.prefix = f"{dataset_prefix(dataset)}/.progress"
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0

    def append(self, records: list[dict[str, Any]]) -> None:
        """Durably add records (one small part)."""
        if not records:
            return
        self._sequence += 1
        lines = "".join(json.dumps(_clean(r), default=str) + "\n" for r in records)
        key = f"{self.prefix}/part-{self.run_id}-{self._sequence:07d}.jsonl"
        self.store.put_bytes(key, lines.encode(), "application/x-ndjson")

    def read(self) -> pd.DataFrame:
        """Every recorded outcome, the latest per URL."""
        frames = []
        for key in self.store.list(self.prefix + "/"):
            name = key.rsplit("/", 1)[-1]
            if not name.startswith(("part-", "compacted-")):
                continue
            data = self.store.get_bytes(key)
            if name.endswith(".parquet"):
                frames.append(pd.read_parquet(io.BytesIO(data)))
            elif name.endswith(".jsonl"):
                rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
                frames.append(pd.DataFrame(rows))
        if not frames:
            return empty_records()
        frame = pd.concat(frames, ignore_index=True)
        for column in RECORD_COLUMNS:
            if column not in frame:
                frame[column] = None
        frame = frame.sort_values("finished_at", kind="stable")
        return frame.drop_duplicates("url", keep="last")[list(RECORD_COLUMNS)].reset_index(
            drop=True
        )

    def compact(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """Fold all parts into one Parquet part (written before the old parts are removed).

        ``frame``: the caller's up-to-date view of every record (saves reading the parts).
        """
        frame = self.read() if frame is None else frame.drop_duplicates("url", keep="last")
        old = [
            k
            for k in self.store.list(self.prefix + "/")
            if k.rsplit("/", 1)[-1].startswith(("part-", "compacted-"))
        ]
        buffer = io.BytesIO()
        frame.astype({"permanent": bool}).to_parquet(buffer, index=False)
        new_key = f"{self.prefix}/compacted-{self.run_id}.parquet"
        self.store.put_bytes(new_key, buffer.getvalue(), "application/vnd.apache.parquet")
        for key in old:
            if key != new_key:
                self.store.delete(key)
        return frame

    # Search results are cached too, so a resumed crawl does not spend API quota again.
    def _search_key(self, provider: str, query: str, offset: int, count: int) -> str:
        digest = hashlib.sha1(f"{provider}\x00{query}\x00{offset}\x00{count}".encode()).hexdigest()
        return f"{self.prefix}/search/{digest}.json"

    def cached_search(self, provider: str, query: str, offset: int, count: int) -> list | None:
        """Hits (as dicts) of an earlier identical search, or None."""
        key = self._search_key(provider, query, offset, count)
        try:
            return json.loads(self.store.get_bytes(key))
        except KeyError:
            return None

    def cache_search(self, provider: str, query: str, offset: int, count: int, hits) -> None:
        """Remember the hits of one search."""
        key = self._search_key(provider, query, offset, count)
        self.store.put_bytes(key, json.dumps(hits).encode(), "application/json")


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    out = {column: record.get(column) for column in RECORD_COLUMNS}
    out["finished_at"] = out["finished_at"] or time.time()
    return out
