"""``score_folder``: score every image of a folder or store prefix with the registered models.

A card can be scored as one task, as ``shards`` tasks of whole bursts then a merge (each task a
container or Kubernetes Job with that execution), or on Spark (``options.spark_master``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.components.detect.contract import SCORE, ScoreParams
from nolabel.flows import report
from nolabel.flows.crashes import claim_flow_run
from nolabel.flows.data import flow_dir, resolve_source, source_in_place, source_name
from nolabel.flows.params import ScoreFolderParams
from nolabel.flows.tasks import retry_on_transient, score_shard_task, score_task


@task(
    name="fetch-images",
    cache_policy=NONE,
    persist_result=False,
    retries=3,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=retry_on_transient,
)
def fetch_images(source: str) -> tuple[str, str]:
    """A local directory with the source's images (a store prefix is downloaded to the cache)."""
    directory, name = resolve_source(source)
    return str(directory), name


def score_params(params: ScoreFolderParams, images: str, out: Path, **shard: Any) -> ScoreParams:
    """ScoreParams for a folder: its settings, the options given (typed as ScoreParams') and
    ``shard`` (``shard_count``, ``shard_index``, ``merge``)."""
    given = params.options.model_dump(exclude_unset=True)
    folder = {"classifier": params.classifier, "detector": params.detector}
    return SCORE.check_params(
        {**given, **folder, "batch_size": params.batch_size, "images": images, "out": str(out)}
        | shard
    )


def score_card(params: ScoreFolderParams, images: str, out: Path) -> tuple[Any, list[Any]]:
    """The card scored as ``params`` asks: one task, Spark, or shard tasks then a merge.
    Returns the final ScoreResult and the shards' results (none unless fanned out)."""
    count = params.shards
    if count == 1 or params.options.spark_master:
        return score_task(SCORE, score_params(params, images, out, shard_count=count)), []
    futures = [
        score_shard_task.submit(
            SCORE, score_params(params, images, out, shard_count=count, shard_index=index)
        )
        for index in range(count)
    ]
    shards = [future.result() for future in futures]  # the first failure stops the flow
    merged = score_task(SCORE, score_params(params, images, out, shard_count=count, merge=True))
    return merged, shards


@flow(name="score_folder", log_prints=True)
def score_folder(params: ScoreFolderParams) -> dict[str, Any]:
    """Batch-score a folder (or a bucket prefix): probability and boxes per image."""
    claim_flow_run()  # label this run; mark runs of killed processes Crashed
    logger = get_run_logger()
    if params.in_place:
        images, name = source_in_place(params.source), source_name(params.source)
    else:
        images, name = fetch_images(params.source)
    out = Path(params.out) if params.out else flow_dir("scores") / f"{name}.json"
    scored, shards = score_card(params, images, out)
    result = scored.model_dump(mode="json")
    stored = None
    if out.exists():
        stored = open_store().put_file(f"flows/scores/{name}.json", out)
    summary_steps = {"score": {**result, "counts": _counts(result)}}
    notes = [f"source `{params.source}` → `{images}`", f"results `{out}`"]
    if shards:
        done = ", ".join(f"{s.shard_index}: {s.scored} scored, {s.failed} failed" for s in shards)
        notes.append(f"{len(shards)} shards ({done}), then merged")
    if stored:
        notes.append(f"results copied to `{stored}`")
    report.publish("score-folder", "score_folder", summary_steps, {}, notes)
    logger.info("scored %s into %s", params.source, out)
    return {
        "source": params.source,
        "images_dir": images,
        "out": str(out),
        "stored": stored,
        "execution": get_settings().execution,
        "result": result,
        "shards": [shard.model_dump(mode="json") for shard in shards],
    }


def _counts(result: dict[str, Any]) -> dict[str, float]:
    """Numeric top-level fields of a score result (images scored, failures, ...)."""
    return {
        k: v for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
