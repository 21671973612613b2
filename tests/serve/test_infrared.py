"""`/v1/predict`: the finders see a grey image equalized (each image stands alone, as a lone
frame of `nolabel score`); the classifier sees it as taken."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nolabel.components.serve.inference import judge_images
from nolabel.components.serve.metrics import create_metrics
from nolabel.components.serve.models import LoadedModel, ModelSet
from nolabel.components.serve.settings import ServeSettings
from tests.seeing_models import SeeingModel


@pytest.mark.parametrize("equalize", [True, False])
def test_a_grey_image_is_equalized_for_the_detector_unless_turned_off(equalize):
    classifier, detector = SeeingModel(), SeeingModel()
    models = ModelSet(
        classifier=LoadedModel("classifier", classifier, "c", "1", "models:/c/1", 0.0),
        detector=LoadedModel("detector", detector, "d", "1", "models:/d/1", 0.0),
    )
    levels = np.random.default_rng(0).integers(100, 121, (96, 128, 1), dtype=np.uint8)
    image = SimpleNamespace(array=np.repeat(levels, 3, axis=2), width=128, height=96)
    (record,) = judge_images(models, [image], create_metrics(), equalize)
    assert record["probability"] == 0.7 and record["raw_boxes"] == []
    assert classifier.spreads == [20]
    assert (detector.spreads[0] > 60) == equalize


def test_the_setting_defaults_on_and_reads_the_environment(monkeypatch):
    assert ServeSettings().equalize_infrared is True
    monkeypatch.setenv("NOLABEL_SERVE_EQUALIZE_INFRARED", "false")
    assert ServeSettings().equalize_infrared is False
