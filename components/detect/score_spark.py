"""`nolabel score --spark-master URL`: each shard of a card one Spark task, then the merge.

The driver lists the card and groups it into bursts as a local run does, loads the models once
(their identity and the classifier's threshold) and pins registry aliases to versions, so every
executor scores with exactly the driver's models. A task scores one shard into its own log
(``score_shards``: under the log's lock, resuming from it); an executor's Python process loads
the models once and keeps them for its later tasks (``_MODELS``, keyed by URIs and options).
Shards already complete in their logs get no task; a task Spark retries after a lost executor
resumes from its log. The driver then merges the logs into ``--out`` as ``--merge`` does.
Executors read the card and write the logs at the driver's paths: on several machines both
must be on a filesystem they all mount at the same path. Each task carries the driver's
``NOLABEL_*`` settings (home, store, registry), so a worker started for another job, or with
another environment, reads the same store and registry as the driver.
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from nolabel.components.common.errors import ConfigurationError, InputError
from nolabel.components.common.spark import get_spark
from nolabel.components.detect.contract import ScoreParams, ScoreResult
from nolabel.components.detect.evidence import FrameModels
from nolabel.components.detect.frame_source import open_frames
from nolabel.components.detect.score import score_bursts
from nolabel.components.detect.score_models import load_models, model_identity
from nolabel.components.detect.score_partial import read_partial
from nolabel.components.detect.score_shards import Plan, merge_shards, plan, shard_lock
from nolabel.components.detect.shards import shard_bursts, shard_log

_MODELS: dict[str, FrameModels] = {}  # per executor process: models by URIs and options
_LOADS = [0]  # model loads in this process


def _pin(uri: str | None, model: Any) -> str | None:
    """``uri`` as every executor must load it: a local folder absolute, a registry alias (or
    the default) pinned to the version the driver loaded."""
    if model is None:
        return uri
    if uri and Path(uri).expanduser().exists():
        return str(Path(uri).expanduser().resolve())
    version = str(model.version or "")
    if (uri is None or "@" in uri) and version.isdigit() and model.name:
        return f"models:/{model.name}/{version}"
    return uri


def driver_settings() -> dict[str, str]:
    """The driver's ``NOLABEL_*`` environment, which every task scores under."""
    return {k: v for k, v in os.environ.items() if k.startswith("NOLABEL_")}


def _use_settings(settings: dict[str, str]) -> None:
    """This executor process set to the driver's ``NOLABEL_*`` environment."""
    from nolabel.components.common.settings import get_settings

    current = driver_settings()
    if current == settings:
        return
    for name in set(current) - set(settings):
        del os.environ[name]
    os.environ.update(settings)
    get_settings.cache_clear()


def executor_models(params: ScoreParams) -> FrameModels:
    """The models ``params`` name, loaded once per process (and per driver settings)."""
    key = json.dumps(
        [params.classifier, params.detector, params.use_classifier, params.use_detector,
         params.proposals, params.proposer, params.proposer_side, params.tiles,
         sorted(driver_settings().items())]
    )  # fmt: skip
    if key not in _MODELS:
        _MODELS[key] = load_models(params)
        _LOADS[0] += 1
    return _MODELS[key]


def score_task(payload: str) -> str:
    """One Spark task: score one shard into its log; a JSON report of what it did."""
    task = json.loads(payload)
    _use_settings(task["settings"])
    params = ScoreParams.model_validate(task["params"])
    models = executor_models(params)
    identity = model_identity(models, params)
    if identity != task["identity"]:
        raise InputError(
            f"an executor loaded other models ({identity}) than the driver ({task['identity']})"
        )
    frames, log = open_frames(task["images"]), Path(task["log"])
    bursts = [[frames.root / rel for rel in burst] for burst in task["bursts"]]
    with shard_lock(log):
        _, scored, seconds = score_bursts(
            frames, bursts, models, identity, log, params, resume=True
        )
    return json.dumps(
        {"shard": task["shard"], "executor": f"{socket.gethostname()}:{os.getpid()}",
         "loads": _LOADS[0], "scored": scored, "seconds": seconds}
    )  # fmt: skip


def _images(job: Plan) -> str:
    """``--images`` as executors open it: a folder's absolute path, or the store URI."""
    return job.frames.uri if "://" in job.frames.uri else str(job.root)


def _tasks(params: ScoreParams, job: Plan, count: int) -> list[str]:
    """One payload a shard with frames missing from its log (all, after ``--restart``)."""
    executor_params = params.model_copy(
        update={
            "classifier": _pin(params.classifier, job.models.classifier),
            "detector": _pin(params.detector, job.models.detector),
            "spark_master": None, "merge": False, "shard_index": None, "crops": None,
        }
    ).model_dump(mode="json")  # fmt: skip
    payloads, settings = [], driver_settings()
    for index in range(count):
        log = shard_log(job.out, index, count)
        if not params.resume:
            log.unlink(missing_ok=True)
        rels = [[p.relative_to(job.root).as_posix() for p in b]
                for b in shard_bursts(job.groups, index, count)]  # fmt: skip
        done = read_partial(log, job.identity) if rels else {}
        if all(rel in done for burst in rels for rel in burst):
            continue
        payloads.append(json.dumps(
            {"shard": index, "log": str(log.absolute()), "images": _images(job),
             "bursts": rels, "identity": job.identity, "params": executor_params,
             "settings": settings}
        ))  # fmt: skip
    return payloads


def shard_count(params: ScoreParams, out: Path, parallelism: int) -> int:
    """``--shard-count`` when given; else that of the card's latest shard logs (a rerun resumes
    them whatever the cluster's size now); else 2 × the cluster's cores."""
    if params.shard_count > 1:
        return params.shard_count
    if params.resume:
        logs = out.parent.glob(f"{glob.escape(out.name)}.shard-*-of-*.partial.jsonl")
        found = [(log.stat().st_mtime, log.name) for log in logs]
        match = re.search(r"-of-(\d+)\.partial\.jsonl$", max(found)[1]) if found else None
        if match:
            return int(match[1])
    return 2 * parallelism


def _spark_error(exc: Exception) -> Exception:
    """A task's own error, as one line, out of Spark's wrapped traceback."""
    found = re.findall(r"(?:InputError|NolabelError): (.+)", str(exc))
    if found:
        return InputError(f"a Spark task failed: {found[-1].strip()}")
    return exc


def run_spark(params: ScoreParams, master: str) -> ScoreResult:
    """Score the card's shards as Spark tasks on ``master``, then merge them into ``--out``."""
    from pyspark.sql import SparkSession

    job = plan(params)
    had_session = SparkSession.getActiveSession() is not None
    try:
        spark = get_spark(master, app_name="nolabel-score")
    except Exception as exc:  # no JRE, a master that does not answer, a bad URL
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigurationError(f"cannot start Spark on {master}: {first}") from None
    try:
        context = spark.sparkContext
        count = shard_count(params, job.out, context.defaultParallelism)
        payloads = _tasks(params, job, count)
        started, reports = time.monotonic(), []
        if payloads:
            rdd = context.parallelize(payloads, len(payloads))
            try:
                reports = [json.loads(r) for r in rdd.map(score_task).collect()]
            except Exception as exc:
                raise _spark_error(exc) from None
        seconds = time.monotonic() - started
    finally:
        if not had_session:
            spark.stop()
    loads: dict[str, int] = {}
    for report in reports:
        loads[report["executor"]] = max(loads.get(report["executor"], 0), report["loads"])
    scored = sum(report["scored"] for report in reports)
    return merge_shards(params, job, count, scored=scored, seconds=seconds, loads=loads)
