"""Which frames a shard of `nolabel score` scores: whole bursts, by a stable hash of their key.

A card is listed and grouped into bursts exactly as a local run groups it; burst ``k`` belongs
to shard ``int(sha1(k).hexdigest(), 16) % shard_count`` — the same on every machine and in every
process (Python's ``hash()`` is salted per process). A burst never straddles two shards, so its
burst change, burst probability and verdicts are those of a local run. Shard ``i`` of ``n``
appends its raw records to ``<out>.shard-i-of-n.partial.jsonl`` (the format of
``<out>.partial.jsonl``, which is the log of the one shard of 1); ``--merge`` reads them all
back (``score_shards``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from nolabel.components.common.errors import InputError

INDEX_ENV = "JOB_COMPLETION_INDEX"  # set by a Kubernetes Indexed Job in each of its pods


def shard_of(burst_key: str, shard_count: int) -> int:
    """The shard (0 … ``shard_count`` − 1) the burst keyed ``burst_key`` belongs to."""
    if shard_count < 1:
        raise InputError(f"the shard count must be at least 1, got {shard_count}")
    return int(hashlib.sha1(burst_key.encode("utf-8")).hexdigest(), 16) % shard_count


def burst_groups(frames: Any, files: list[Path], params: Any) -> dict[str, list[Path]]:
    """The scanned ``files`` of ``frames`` (``frame_source``: a folder or a store prefix)
    grouped into bursts (``params.bursts``, ``params.burst_gap``) as the final results group
    them: burst key → its frames, both in file order."""
    rels = [p.relative_to(frames.root).as_posix() for p in files]
    keys = frames.burst_keys(rels, mode=params.bursts, gap_seconds=params.burst_gap)
    groups: dict[str, list[Path]] = {}
    for path, rel in zip(files, rels, strict=True):
        groups.setdefault(keys[rel], []).append(path)
    return groups


def shard_bursts(groups: dict[str, list[Path]], index: int, count: int) -> list[list[Path]]:
    """The bursts of shard ``index`` of ``count``, in file order."""
    return [paths for key, paths in groups.items() if shard_of(key, count) == index]


def shard_log(out: Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` appends its raw records. The one shard of a count of
    1 is the whole card: its log is a whole-card run's ``<out>.partial.jsonl``, so ``--merge
    --shard-count 1`` after a plain run (a one-pod Indexed Job) writes the same results."""
    if count == 1:
        return out.with_name(f"{out.name}.partial.jsonl")
    return out.with_name(f"{out.name}.shard-{index}-of-{count}.partial.jsonl")


def shard_index(params: Any, environ: dict[str, str] | None = None) -> int | None:
    """The shard this run scores: ``params.shard_index``, else (with a shard count above 1)
    ``$JOB_COMPLETION_INDEX``; None for a whole-card run; :class:`InputError` when a shard
    count is given without an index, or the index is out of range."""
    count, index = params.shard_count, params.shard_index
    if index is None and count > 1:
        raw = (os.environ if environ is None else environ).get(INDEX_ENV)
        if raw is None:
            raise InputError(
                f"--shard-count {count} needs --shard-index I (0 … {count - 1}), the "
                f"{INDEX_ENV} of a Kubernetes Indexed Job, or --merge"
            )
        if not (raw.strip().isascii() and raw.strip().isdigit()):
            raise InputError(f"{INDEX_ENV} must be a whole number, got {raw!r}")
        index = int(raw)
    if index is not None and not 0 <= index < count:
        raise InputError(
            f"shard index {index} is out of range for {count} shards (0 … {count - 1})"
        )
    return index
