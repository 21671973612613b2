"""The models a `nolabel score` run loads, and the identity its raw records carry."""

from __future__ import annotations

from typing import Any

from nolabel.components.detect.contract import ScoreParams
from nolabel.components.detect.evidence import FrameModels

RAW_BOX_FLOOR = 0.05  # detector boxes kept in the partial records (the policy filters later)


def _identity(model: Any) -> str | None:
    if model is None:
        return None
    return f"{model.name}:{model.version}"


def load_models(params: ScoreParams) -> FrameModels:
    """The classifier, detector and proposer ``params`` ask for (registry defaults)."""
    models = FrameModels()
    if params.use_classifier:
        from nolabel.components.transfer.classifier import load_classifier

        models.classifier = load_classifier(params.classifier)
    if params.use_detector:
        from nolabel.components.detect.predictor import load_detector

        models.detector = load_detector(params.detector)
    if params.proposals:
        from nolabel.components.proposals.proposer import AnimalProposer

        models.proposer = AnimalProposer(
            params.proposer, input_side=params.proposer_side, tiles=params.tiles
        )
    return models


def model_identity(models: FrameModels, params: ScoreParams) -> dict[str, Any]:
    """What a raw record was scored with (a partial log's records of others are redone)."""
    return {
        "classifier": _identity(models.classifier),
        "detector": _identity(models.detector),
        "proposer": models.proposer.identity if models.proposer else None,
        "box_floor": str(min(params.min_score, RAW_BOX_FLOOR)),
        "burst_change": params.burst_change,
        "equalize_infrared": params.equalize_infrared,
    }
