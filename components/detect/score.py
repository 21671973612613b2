"""`nolabel score`: every image under a folder judged, one box per animal where it is sure.

Frames are scored burst by burst (``nolabel.components.common.bursts``): the classifier, the
Faster R-CNN, the animal proposals and the burst's changed regions, with the classifier judging
the crops (``nolabel.components.detect.evidence``). Raw records are appended to
``<out>.partial.jsonl`` as each batch finishes, so an interrupted run (a full SD card, a power
cut) resumes where it stopped; the final ``--out`` JSON, written atomically at the end, applies
the policy of ``nolabel.components.detect.policy`` (fused boxes, verdicts, bursts as units).
The finders see a grey (infrared) frame standing alone equalized (``common.contrast``).
Frames are read as the scan saw them (``score_frames``: a frame since swapped for a FIFO or a
link out is a failure), the partial log is checked as it is read back (``score_partial``), and
``--out`` is replaced only after its exports are written.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nolabel.components.common.change import MIN_FRAMES
from nolabel.components.common.contrast import equalize_infrared
from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.common.images import models_side
from nolabel.components.common.settings import get_settings
from nolabel.components.detect.contract import ScoreParams, ScoreResult
from nolabel.components.detect.evidence import FrameModels, analyse
from nolabel.components.detect.frame_source import open_frames
from nolabel.components.detect.policy import VERDICTS, finish_records
from nolabel.components.detect.score_models import RAW_BOX_FLOOR, load_models, model_identity
from nolabel.components.detect.score_partial import end_cut_line, partial_path, read_partial
from nolabel.components.detect.score_target import ScoreTarget
from nolabel.components.detect.shards import burst_groups
from nolabel.components.results.crops import write_crops
from nolabel.components.results.file_format import ResultsFile
from nolabel.components.results.outputs import write_exports
from nolabel.components.results.records import load_results

MAX_CHANGE_FRAMES = 60  # a larger group (a whole folder, say) is no camera burst


def _score_batch(batch, models: FrameModels, box_floor: float) -> list[dict[str, Any]]:
    arrays = [decoded.array for _, decoded, _ in batch]
    sizes = [decoded.size for _, decoded, _ in batch]
    seen = [d.array if d.seen is None else d.seen for _, d, _ in batch]
    changes = [change for _, _, change in batch]
    with_change = any(change is not None for change in changes)
    changed = [c or [] for c in changes] if with_change else None
    raw = analyse(arrays, sizes, models, box_floor, changed, views=seen)
    records = []
    for (rel, decoded, change), found in zip(batch, raw, strict=True):
        if change is None:  # no burst change ran on it, whatever else is in the batch
            found.pop("change_boxes", None)
        width, height = decoded.size
        records.append({"path": rel, "width": int(width), "height": int(height), **found})
    return records


def _burst_order(frames, files: list[Path], params: ScoreParams) -> list[list[Path]]:
    """The files grouped into bursts (as the final results group them), in file order."""
    return list(burst_groups(frames, files, params).values())


def _burst_changes(frames, paths: list[Path], params: ScoreParams) -> dict[Path, list]:
    """Changed regions of each frame of one burst (none for single frames or huge groups)."""
    if not params.burst_change or not MIN_FRAMES <= len(paths) <= MAX_CHANGE_FRAMES:
        return {}
    return dict(zip(paths, frames.change_boxes(paths), strict=True))


def run_score(params: ScoreParams) -> ScoreResult:
    """Score every file under ``params.images``; see the module docstring. A shard, a merge of
    shards or a Spark run goes to :mod:`nolabel.components.detect.score_shards`."""
    with ScoreTarget(params.out) as target:  # a store --out: written locally, then uploaded
        return target.publish(_run_score(params.model_copy(update={"out": str(target.local)})))


def _run_score(params: ScoreParams) -> ScoreResult:
    if not (params.use_classifier or params.use_detector or params.proposals):
        raise InputError("nothing to do: the classifier, detector and proposals are all off")
    from nolabel.components.detect.score_shards import run_sharded, sharded

    if sharded(params):  # a shard, a merge of shards or a Spark run
        return run_sharded(params)
    frames = open_frames(params.images, params.crops)  # a folder or a store prefix
    root, out = frames.root, Path(params.out).expanduser()
    scan = frames.scan()
    models = load_models(params)
    identity = model_identity(models, params)
    partial = partial_path(out)
    bursts = _burst_order(frames, scan.files, params)
    done, scored, seconds = score_bursts(
        frames, bursts, models, identity, partial, params, resume=params.resume
    )
    threshold = models.classifier.threshold if models.classifier is not None else None
    run = ScoreRun(
        out=out, partial=partial, scan=scan, root=root, done=done, models=identity,
        scored=scored, seconds=seconds, threshold=threshold, frames=frames,
    )  # fmt: skip
    return _write_results(run, params)


def score_bursts(
    frames: Any,
    bursts: list[list[Path]],
    models: FrameModels,
    identity: dict[str, Any],
    partial: Path,
    params: ScoreParams,
    resume: bool,
) -> tuple[dict[str, dict[str, Any]], int, float]:
    """Score the frames of ``bursts`` (of ``frames``: ``frame_source``) not yet in the log
    ``partial``, appending their raw records to it: (the log's records by path, frames scored
    now, seconds)."""
    from tqdm import tqdm

    root, box_floor = frames.root, min(params.min_score, RAW_BOX_FLOOR)
    partial.parent.mkdir(parents=True, exist_ok=True)
    done = read_partial(partial, identity) if resume else {}
    if not resume and partial.exists():
        partial.unlink()
    end_cut_line(partial)
    max_pixels = get_settings().max_image_pixels
    min_side = models_side(models.classifier, models.detector, models.proposer)
    started, scored = time.monotonic(), 0
    total = sum(len(burst) for burst in bursts)
    todo_count = sum(p.relative_to(root).as_posix() not in done for b in bursts for p in b)
    with (
        partial.open("a", encoding="utf-8") as sink,
        tqdm(
            total=total, initial=total - todo_count, unit="img", file=sys.stderr,
            desc="score", disable=None,
        ) as bar,
    ):  # fmt: skip
        batch: list[tuple[str, Any, Any]] = []

        def write(record: dict[str, Any]) -> None:
            record["models"] = identity
            sink.write(json.dumps(record) + "\n")
            done[record["path"]] = record

        def flush() -> None:
            nonlocal scored
            if batch:
                records = _score_safely(batch, models, box_floor)
                for record in records:
                    write(record)
                scored += sum("error" not in record for record in records)
                bar.update(len(batch))
                batch.clear()
            sink.flush()

        for burst in bursts:
            todo = [p for p in burst if p.relative_to(root).as_posix() not in done]
            changes = _burst_changes(frames, burst, params) if todo else {}
            for path in todo:
                rel = path.relative_to(root).as_posix()
                loaded = frames.load_image(path, max_pixels, min_side)
                if isinstance(loaded, tuple):
                    write({"path": rel, "error": loaded[0], "message": loaded[1]})
                    bar.update(1)
                    continue
                if params.equalize_infrared and len(burst) == 1:
                    loaded = replace(loaded, seen=equalize_infrared(loaded.array))
                batch.append((rel, loaded, changes.get(path) if changes else None))
                if len(batch) >= params.batch_size:
                    flush()
        flush()
    return done, scored, time.monotonic() - started


def _score_safely(batch, models: FrameModels, box_floor: float) -> list[dict[str, Any]]:
    """Score a batch; if the models fail on it, score its images one by one and record the
    ones they fail on (``model_error``) instead of stopping the run."""
    try:
        return _score_batch(batch, models, box_floor)
    except Exception as exc:
        if len(batch) == 1:
            first = (str(exc).strip().splitlines() or [""])[0]
            message = f"the models failed on it: {type(exc).__name__}: {first}"[:300]
            return [{"path": batch[0][0], "error": "model_error", "message": message}]
    return [r for item in batch for r in _score_safely([item], models, box_floor)]


@dataclass
class ScoreRun:
    """What a scoring pass produced, for the final results file."""

    out: Path
    partial: Path
    scan: Any
    root: Path
    done: dict[str, dict[str, Any]]
    models: dict[str, Any]
    scored: int
    seconds: float
    threshold: float | None
    frames: Any = None  # frame_source.LocalFrames or StoreFrames (None: the folder ``root``)


def _write_results(run: ScoreRun, params: ScoreParams) -> ScoreResult:
    files: list[Path] = run.scan.files
    order = [p.relative_to(run.root).as_posix() for p in files]
    records = [{k: v for k, v in run.done[rel].items() if k != "models"} for rel in order]
    images = [r for r in records if "error" not in r]
    bursts, withheld = finish_records(
        images, run.root, run.threshold, mode=params.bursts, gap_seconds=params.burst_gap,
        min_score=params.min_score, keep_negative=params.boxes_on_empty,
        frame_gate=params.frame_gate, burst_gate=params.burst_gate,
        burst_views=params.burst_views, stamp=run.frames.stamp if run.frames else None,
    )  # fmt: skip
    failures = [
        {"path": r["path"], "reason": r["error"], "message": r["message"]}
        for r in records
        if "error" in r
    ] + [{"path": s.path, "reason": s.reason, "message": s.message} for s in run.scan.skipped]
    results = ResultsFile(
        root=run.frames.uri if run.frames else str(run.root.resolve()),
        models=run.models,
        threshold=None if run.threshold is None else float(run.threshold),
        min_score=params.min_score,
        frame_gate=params.frame_gate,
        burst_gate=params.burst_gate,
        burst_views=params.burst_views,
        label=params.label,
        images=images,
        failures=failures,
    )
    exports, crops = _write_outputs(run.out, results, params)
    return ScoreResult(
        out=str(run.out),
        partial=str(run.partial),
        files=len(files),
        scored=run.scored,
        resumed=len(images) - run.scored,
        failed=len(failures),
        positives=sum(1 for r in images if r.get("positive")),
        verdicts={v: sum(r["verdict"] == v for r in images) for v in VERDICTS},
        bursts=bursts,
        boxes=sum(len(r.get("boxes", [])) for r in images),
        suppressed_boxes=withheld,
        seconds=round(run.seconds, 2),
        images_per_second=round(run.scored / run.seconds, 2)
        if run.seconds > 0 and run.scored
        else 0.0,
        classifier=run.models["classifier"],
        detector=run.models["detector"],
        proposer=run.models["proposer"],
        exports=exports,
        crops=crops,
    )


def _write_outputs(
    out: Path, written: ResultsFile, params: ScoreParams
) -> tuple[dict[str, str], int | None]:
    """The results checked, the MegaDetector JSON and CSV tables (and crops, when asked for)
    written beside ``out``, then ``out`` itself: a failure leaves the previous ``out`` as it was."""
    pending = write_text_atomic(out.with_name(f".{out.name}.pending"), written.to_json())
    try:
        local_root = written.root is None or "://" not in written.root  # exports read no frame
        results = load_results(pending, None if local_root else pending.parent)
        results.path = out  # the exports are named after the results file
        exports = write_exports(results)
        crops = None
        if params.crops is not None:
            crops = write_crops(results, params.crops, params.crop_padding)["crops"]
        os.replace(pending, out)
    finally:
        pending.unlink(missing_ok=True)
    return exports, crops
