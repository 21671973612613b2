"""Self-training on the user's frames: the trained detector boxes the ``--target`` frames.

Before training, the ``--target`` frames are pseudo-boxed without a detector (the COCO detector's
proposals and the bursts' changed regions, judged by the classifier on their crops:
:mod:`nolabel.components.detect.pseudo`). Alone, with no burst to show what moved, a night frame
is seldom sure enough to be boxed that way. Once trained, the detector adds its own evidence: each
round scores the frames as ``nolabel score`` would (classifier, this detector, proposals, bursts;
the frames as taken: a lone infrared frame is not equalized) and every frame the policy then calls
``animal`` is pseudo-boxed with its kept boxes (and is a negative no more); frames boxed before
and not called ``animal`` now keep their boxes. The detector is then fine-tuned from its weights
on the enlarged set, as transductive self-training does. No human label is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nolabel.components.common.coco import save_coco
from nolabel.components.detect import engine
from nolabel.components.detect.config import set_data
from nolabel.components.detect.contract import ScoreParams
from nolabel.components.detect.predictor import CHECKPOINT_FILE, CONFIG_FILE
from nolabel.components.detect.pseudo import EQUALIZE_INFRARED_FOR_PSEUDO_BOXES, animal_coco
from nolabel.components.detect.refine import refine_config
from nolabel.components.detect.score import run_score
from nolabel.components.detect.target import merge_coco, without_images


def model_dir(config_path: Path, checkpoint: Path, folder: Path) -> Path:
    """A model directory ``score`` loads: the inference config and a link to the checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_bytes(Path(config_path).read_bytes())
    (folder / CHECKPOINT_FILE).symlink_to(Path(checkpoint).resolve())
    return folder


def target_animals(
    detector_dir: Path, target: str, classifier: str | None, *, bursts: str, burst_gap: float,
    out: Path,
) -> dict[str, Any]:  # fmt: skip
    """The ``target`` frames ``score`` with this detector calls ``animal``, as COCO."""
    root = Path(target).expanduser()
    run_score(
        ScoreParams(
            images=str(root), out=str(out), classifier=classifier, detector=str(detector_dir),
            bursts=bursts, burst_gap=burst_gap, resume=False,
            equalize_infrared=EQUALIZE_INFRARED_FOR_PSEUDO_BOXES,
        )
    )  # fmt: skip
    return animal_coco(json.loads(out.read_text(encoding="utf-8")), root)


def target_self_train(
    cfg,
    config_path: Path,
    checkpoint: Path,
    train_coco: dict[str, Any],
    *,
    target: str,
    classifier: str | None,
    bursts: str,
    burst_gap: float,
    rounds: int,
    epochs: int,
    work: Path,
) -> tuple[dict[str, float], Path] | None:
    """Up to ``rounds`` rounds of pseudo-boxing the ``target`` frames with the detector
    (``config_path`` + ``checkpoint``) and fine-tuning it on ``train_coco`` with them; the last
    round's validation metrics (with ``target_<round>_pseudo_boxed_images``) and checkpoint, or
    None when no round ran (no frame called ``animal``)."""
    outcome = None
    for index in range(1, rounds + 1):
        detector_dir = model_dir(config_path, checkpoint, work / f"target-{index}-model")
        found = target_animals(
            detector_dir, target, classifier, bursts=bursts, burst_gap=burst_gap,
            out=work / f"target-{index}-scores.json",
        )  # fmt: skip
        if not found["images"]:
            break
        extra = {**found, "categories": train_coco["categories"]}
        train_coco = merge_coco(without_images(train_coco, found), extra)
        set_data(cfg, "train", str(save_coco(train_coco, work / f"target-{index}.json")))
        refined = refine_config(cfg, str(checkpoint), epochs, len(train_coco["images"]))
        _, metrics, checkpoint = engine.train(refined, work / f"target-{index}")
        metrics[f"target_{index}_pseudo_boxed_images"] = float(len(found["images"]))
        outcome = metrics, checkpoint
    return outcome
