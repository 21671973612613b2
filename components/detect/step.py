"""The detect step: fine-tune Faster R-CNN on LIME boxes, evaluate, store, register."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from nolabel.components.common import tracking
from nolabel.components.common.coco import save_coco, score_boxes
from nolabel.components.common.defaults import DEFAULT_BURST_GATE
from nolabel.components.common.errors import InputError
from nolabel.components.common.names import CANDIDATE, DETECTOR_MODEL
from nolabel.components.common.owners import owned_dir
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.components.detect import engine, overlays
from nolabel.components.detect.config import apply_options, for_inference, load_config, set_data
from nolabel.components.detect.contract import (
    DetectEvalParams,
    DetectEvalResult,
    DetectTrainParams,
    DetectTrainResult,
)
from nolabel.components.detect.data import (
    add_negatives,
    boxed_only,
    negative_images,
    prepare,
    split_by_image,
)
from nolabel.components.detect.predictor import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    Detector,
    find_model_files,
)
from nolabel.components.detect.pseudo import change_pseudo_boxes, fused_pseudo_boxes
from nolabel.components.detect.refine import loose_boxed, self_train
from nolabel.components.detect.target import (
    confident_empty,
    merge_coco,
    paste_objects,
    rank_frames,
    without_images,
)
from nolabel.components.detect.target_refine import target_self_train
from nolabel.components.transfer.classifier import load_classifier


def _work_dir() -> AbstractContextManager[Path]:
    """``NOLABEL_HOME/work/detect-OWNER.RANDOM``, removed on exit (normal or exception); the
    ones of killed processes are removed by the next detect step on this host."""

    return owned_dir(get_settings().home / "work", "detect-")


def score_against(
    cfg, checkpoint: Path, gt: dict[str, Any], gt_path: Path, work: Path
) -> dict[str, float]:
    """COCO mAP/AP50 (CocoMetric) plus mean IoU / CorLoc of the top box against human boxes."""

    metrics, detections = engine.test(cfg, checkpoint, gt_path, work, prefix="gt")
    predicted = {"images": gt["images"], "annotations": detections}
    scored = score_boxes(predicted, gt)
    metrics.update(
        {
            "gt_mean_iou": scored["mean_iou"],
            "gt_corloc": scored["corloc"],
            "gt_images": scored["images"],
        }
    )
    return metrics


def from_target(params: DetectTrainParams, work: Path) -> tuple[list[Path], dict[str, Any]]:
    """The --target frames sure to hold no object (negatives), and the pseudo-boxed frames
    (COCO; never also a negative): see :mod:`nolabel.components.detect.pseudo`."""
    evidence: dict[str, float] = {}
    pseudo: dict[str, Any] = {"images": [], "annotations": []}
    if params.target_boxes in ("both", "fused"):
        pseudo, ranked, evidence, threshold = fused_pseudo_boxes(
            Path(params.target), params.classifier, work, bursts=params.bursts,
            burst_gap=params.burst_gap,
        )  # fmt: skip
    else:
        classifier = load_classifier(params.classifier)
        ranked, threshold = rank_frames(params.target, classifier), classifier.threshold
    if params.target_boxes in ("both", "change"):
        moving = change_pseudo_boxes(
            Path(params.target), ranked, threshold, min_change=params.target_min_change,
            bursts=params.bursts, burst_gap=params.burst_gap,
        )  # fmt: skip
        pseudo = merge_coco(moving, without_images(pseudo, moving))
    boxed = {img["file_name"] for img in pseudo["images"]}
    empties = confident_empty(ranked, threshold, params.target_empty_share)
    return [
        path
        for path in empties
        if str(path) not in boxed and evidence.get(str(path), 0.0) < DEFAULT_BURST_GATE
    ], pseudo


def run(params: DetectTrainParams) -> DetectTrainResult:
    """Train, evaluate and register a detector from LIME boxes."""
    from nolabel.components.detect.pyfunc import log_model

    if params.images and not params.gt:
        raise InputError("--images only makes sense with --gt")
    started = time.monotonic()
    cfg = load_config(params.config)
    apply_options(
        cfg,
        image_size=params.image_size,
        epochs=params.epochs,
        batch_size=params.batch_size,
        lr=params.lr,
        frozen_stages=params.frozen_stages,
        load_from=params.load_from,
    )
    store = open_store()
    with _work_dir() as tmp:
        work = Path(tmp)
        coco, _ = prepare(params.boxes, work, what="boxes")
        gt = gt_path = None
        if params.gt:
            gt, gt_path = prepare(params.gt, work, images_dir=params.images, what="gt")
        train_coco, val_coco = split_by_image(boxed_only(coco), params.val_fraction, params.seed)
        reboxable = loose_boxed(train_coco)
        negatives = []
        if params.negatives:
            limit = params.max_negatives
            limit = len(train_coco["images"]) if limit is None else limit
            negatives = negative_images(params.negatives, limit, params.seed)
        pseudo_boxed = 0
        if params.target:
            target_negatives, pseudo = from_target(params, work)
            negatives += target_negatives
            pseudo_boxed = len(pseudo["images"])
            train_coco = merge_coco(train_coco, {**pseudo, "categories": train_coco["categories"]})
        if params.pastes and negatives:
            composites = paste_objects(
                train_coco, negatives, params.pastes, work / "pastes", params.seed
            )
            train_coco = merge_coco(train_coco, composites)
        if negatives:
            train_coco = add_negatives(train_coco, negatives)
            cfg.train_dataloader.dataset.filter_cfg.filter_empty_gt = False
        apply_options(cfg, train_images=len(train_coco["images"]))
        cfg.randomness = {"seed": params.seed}
        for split, part in (("train", train_coco), ("val", val_coco), ("test", val_coco)):
            set_data(cfg, split, str(save_coco(part, work / f"{split}.json")))
        with tracking.start_run("detect-train", tags={"step": "detect"}) as active:
            run_id = active.info.run_id
            tracking.log_input(params.boxes, coco, "lime-boxes")  # lineage: which LIME boxes
            tracking.log_params(
                {
                    **params.model_dump(),
                    "train_images": len(train_coco["images"]),
                    "val_images": len(val_coco["images"]),
                    "negative_images": len(negatives),
                    "pseudo_boxed_images": pseudo_boxed,
                }
            )
            _, metrics, checkpoint = engine.train(cfg, work / "runner")
            config_path = work / CONFIG_FILE
            for_inference(cfg).dump(str(config_path))
            refine_epochs = params.refine_epochs or max(1, params.epochs // 2)
            refined = self_train(
                cfg, config_path, checkpoint, train_coco, reboxable, rounds=params.refine_rounds,
                epochs=refine_epochs, min_score=params.refine_score, work=work,
            )  # fmt: skip
            if refined is not None:
                metrics, checkpoint, train_coco = refined
            if params.target and params.target_rounds:
                retrained = target_self_train(
                    cfg, config_path, checkpoint, train_coco, target=params.target,
                    classifier=params.classifier, bursts=params.bursts,
                    burst_gap=params.burst_gap, rounds=params.target_rounds,
                    epochs=refine_epochs, work=work,
                )  # fmt: skip
                if retrained is not None:
                    metrics, checkpoint = {**metrics, **retrained[0]}, retrained[1]
            if gt is not None and gt_path is not None:
                metrics.update(score_against(cfg, checkpoint, gt, gt_path, work / "gt"))
            tracking.log_metrics(metrics)
            tracking.log_json(metrics, "metrics.json")
            tracking.log_file(config_path, "detector")
            for log_file in sorted((work / "runner").glob("*/*.log")):
                tracking.log_file(log_file, "logs")  # mmengine's training log
            if params.overlays:
                detector = Detector(config_path, checkpoint, version=run_id)
                sample = overlays.overlay_grid(
                    detector, val_coco, work / "overlays.png", params.overlays
                )
                if sample:
                    tracking.log_file(sample, "overlays")
            prefix = f"models/detector/{run_id}"
            checkpoint_uri = store.put_file(f"{prefix}/{CHECKPOINT_FILE}", checkpoint)
            config_uri = store.put_file(f"{prefix}/{CONFIG_FILE}", config_path)
            info = log_model(config_path, checkpoint)
            model_uri, version = info.model_uri, None
            if params.register_model:
                version = tracking.register_model(info.model_uri, DETECTOR_MODEL, alias=CANDIDATE)
                model_uri = f"models:/{DETECTOR_MODEL}/{version}"
    return DetectTrainResult(
        run_id=run_id,
        negative_images=len(negatives),
        pseudo_boxed_images=pseudo_boxed,
        model_uri=model_uri,
        model_version=version,
        metrics=metrics,
        checkpoint_uri=checkpoint_uri,
        config_uri=config_uri,
        train_images=len(train_coco["images"]),
        val_images=len(val_coco["images"]),
        seconds=round(time.monotonic() - started, 1),
    )


def run_eval(params: DetectEvalParams) -> DetectEvalResult:
    """Score a trained detector against human boxes (CocoMetric + mean IoU / CorLoc)."""
    from mmengine.config import Config

    uri = params.detector
    if uri and Path(uri).expanduser().is_dir():
        local = Path(uri).expanduser()
    else:
        uri = tracking.resolve_model_uri(uri, DETECTOR_MODEL)
        local = tracking.download_model(uri)
    config_path, checkpoint = find_model_files(Path(local))
    with _work_dir() as tmp:
        work = Path(tmp)
        gt, gt_path = prepare(params.gt, work, images_dir=params.images, what="gt")
        cfg = Config.fromfile(str(config_path))
        with tracking.start_run("detect-eval", tags={"step": "detect", "model": str(uri)}) as run:
            metrics = score_against(cfg, checkpoint, gt, gt_path, work / "gt")
            tracking.log_params({"model": str(uri), "gt": params.gt, "images": params.images})
            tracking.log_metrics(metrics)
            tracking.log_json(metrics, "metrics.json")
    return DetectEvalResult(
        run_id=run.info.run_id, model_uri=str(uri), images=len(gt["images"]), metrics=metrics
    )
