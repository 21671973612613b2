"""`nolabel score` in shards: one shard of a card, the merge of every shard, or all on Spark.

``--shard-count N --shard-index I`` (or ``$JOB_COMPLETION_INDEX``) scores the bursts of shard
``I`` (``shards.py``) into ``<out>.shard-I-of-N.partial.jsonl`` — the record format, checks and
resume of ``<out>.partial.jsonl`` — and writes no results file. ``--merge`` scores nothing: it
reads the N logs, checks that every listed frame has a record of these models in its own shard's
log, and writes ``--out``, its exports and crops as a local run does (``score._write_results``).
``--spark-master`` runs every shard as a Spark task, then merges (``score_spark``). A shard's
log is written under an exclusive lock (``<log>.lock``), so a retried task never interleaves
with a writer still alive; records read back are keyed by path (the last line wins).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nolabel.components.common.errors import InputError
from nolabel.components.common.settings import get_settings
from nolabel.components.detect.contract import ScoreParams, ScoreResult
from nolabel.components.detect.evidence import FrameModels
from nolabel.components.detect.frame_source import open_frames
from nolabel.components.detect.scan import Scan
from nolabel.components.detect.score import ScoreRun, _write_results, score_bursts
from nolabel.components.detect.score_models import load_models, model_identity
from nolabel.components.detect.score_partial import read_partial
from nolabel.components.detect.shards import (
    INDEX_ENV,
    burst_groups,
    shard_bursts,
    shard_index,
    shard_log,
    shard_of,
)

LOCK_WAIT_SECONDS = 300.0  # how long a shard waits for another writer of its log to go
SHOWN = 5  # frames named in an error


def spark_master(params: ScoreParams) -> str | None:
    """``--spark-master``, else ``NOLABEL_SPARK_MASTER`` when it is set; None: no Spark."""
    if params.spark_master:
        return params.spark_master
    settings = get_settings()
    return settings.spark_master if "spark_master" in settings.model_fields_set else None


def sharded(params: ScoreParams) -> bool:
    """Whether ``params`` ask for a shard, a merge or a Spark run (not one local pass)."""
    return (
        params.merge
        or params.shard_count > 1
        or params.shard_index is not None
        or spark_master(params) is not None
    )


@dataclass
class Plan:
    """A card listed and grouped into bursts, and the models it is scored with."""

    frames: Any  # frame_source.LocalFrames or StoreFrames
    root: Path
    out: Path
    scan: Scan
    groups: dict[str, list[Path]]
    models: FrameModels
    identity: dict[str, Any]

    @property
    def threshold(self) -> float | None:
        classifier = self.models.classifier
        return classifier.threshold if classifier is not None else None


def plan(params: ScoreParams) -> Plan:
    """List and group the card as a local run does; load the models (their identity)."""
    frames = open_frames(params.images, params.crops)  # a folder or a store prefix
    out = Path(params.out).expanduser()  # local: a store --out is mirrored by score_target
    scan = frames.scan()
    models = load_models(params)
    groups = burst_groups(frames, scan.files, params)
    return Plan(frames, frames.root, out, scan, groups, models, model_identity(models, params))


def run_sharded(params: ScoreParams) -> ScoreResult:
    """A shard, a merge or a Spark run, as ``params`` ask (see the module docstring). An
    explicit ``--shard-index``/``--merge`` or ``--spark-master`` decides; else a pod of an
    Indexed Job (``$JOB_COMPLETION_INDEX`` with a shard count above 1) scores its shard even
    where ``NOLABEL_SPARK_MASTER`` is set."""
    if params.merge or params.shard_index is not None:
        if params.spark_master:
            raise InputError("--spark-master scores every shard: leave out --shard-index/--merge")
        if params.merge:
            if params.shard_index is not None:
                raise InputError("--merge merges every shard: leave out --shard-index")
            return merge_shards(params, plan(params), params.shard_count)
    else:
        pod = params.shard_count > 1 and INDEX_ENV in os.environ
        master = None if pod and not params.spark_master else spark_master(params)
        if master is not None:
            from nolabel.components.detect.score_spark import run_spark

            return run_spark(params, master)
    index = shard_index(params)
    assert index is not None  # a shard count above 1 without an index was refused
    return run_shard(params, index)


@contextlib.contextmanager
def shard_lock(log: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold ``<log>.lock`` exclusively: one writer a shard log at a time (a retried task waits
    for a killed executor's worker to be gone); :class:`InputError` after ``wait`` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.with_name(log.name + ".lock").open("a") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(
                        f"{log} is being written by another process (a shard scored twice at "
                        f"once?); still locked after {wait:.0f}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_shard(params: ScoreParams, index: int) -> ScoreResult:
    """Score shard ``index`` of ``params.shard_count`` into its log; no results file."""
    job = plan(params)
    count = params.shard_count
    bursts = shard_bursts(job.groups, index, count)
    log = shard_log(job.out, index, count)
    with shard_lock(log):
        done, scored, seconds = score_bursts(
            job.frames, bursts, job.models, job.identity, log, params, resume=params.resume
        )
    rels = [p.relative_to(job.root).as_posix() for burst in bursts for p in burst]
    failed = sum("error" in done[rel] for rel in rels)
    return ScoreResult(
        out=str(job.out), partial=str(log), files=len(rels), scored=scored,
        resumed=len(rels) - failed - scored, failed=failed, positives=0, boxes=0,
        seconds=round(seconds, 2),
        images_per_second=round(scored / seconds, 2) if seconds > 0 and scored else 0.0,
        classifier=job.identity["classifier"], detector=job.identity["detector"],
        proposer=job.identity["proposer"], written=False, shard_index=index, shard_count=count,
    )  # fmt: skip


def _named(rels: list[str]) -> str:
    shown = ", ".join(repr(rel) for rel in rels[:SHOWN])
    return shown + (f" and {len(rels) - SHOWN} more" if len(rels) > SHOWN else "")


def gather(job: Plan, count: int) -> dict[str, dict[str, Any]]:
    """Every listed frame's record from its own shard's log; :class:`InputError` naming the
    shards to score again when a frame has none, or when a frame was scored in another shard
    (the shards disagree on the card or the burst options)."""
    owner = {
        path.relative_to(job.root).as_posix(): shard_of(key, count)
        for key, paths in job.groups.items()
        for path in paths
    }
    done: dict[str, dict[str, Any]] = {}
    misplaced: list[str] = []
    for index in range(count):
        for rel, record in read_partial(shard_log(job.out, index, count), job.identity).items():
            if rel not in owner:
                continue  # no longer on the card: a local run drops it too
            if owner[rel] == index:
                done[rel] = record
            else:
                misplaced.append(rel)
    missing = [rel for rel in owner if rel not in done]
    if missing:
        shards = sorted({owner[rel] for rel in missing})
        raise InputError(
            f"{len(missing)} of {len(owner)} frames have no record of these models in their "
            f"shard's log ({_named(missing)}): score shard(s) {', '.join(map(str, shards))} of "
            f"{count} again (--shard-index I), then merge; nothing was written"
        )
    if misplaced:
        raise InputError(
            f"{len(misplaced)} frames were scored in another shard than theirs "
            f"({_named(misplaced)}): the shards did not see the same card or --bursts/"
            "--burst-gap; score them again with --restart; nothing was written"
        )
    return done


def merge_shards(
    params: ScoreParams,
    job: Plan,
    count: int,
    scored: int = 0,
    seconds: float = 0.0,
    loads: dict[str, int] | None = None,
) -> ScoreResult:
    """Write ``--out``, exports and crops from the ``count`` shard logs, as a local run does."""
    done = gather(job, count)
    logs = (
        shard_log(job.out, 0, count)
        if count == 1
        else job.out.with_name(f"{job.out.name}.shard-*-of-{count}.partial.jsonl")
    )
    run = ScoreRun(
        out=job.out, partial=logs, scan=job.scan, root=job.root, done=done, models=job.identity,
        scored=scored, seconds=seconds, threshold=job.threshold, frames=job.frames,
    )  # fmt: skip
    result = _write_results(run, params)
    result.shard_count, result.model_loads = count, loads
    return result
