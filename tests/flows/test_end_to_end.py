"""One real ``build_detector`` run on the real steps (demo provider, tiny settings), resumed after
the third step fails once, then ``score_folder`` with the promoted models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY = {
    "dataset": "tiny-demo",
    "provider": "demo",
    "positive": ["snow leopard"],
    "negative": ["mountainside"],
    "pages": 1,
    "per_page": 8,
    "variants": ["cut1"],
    "lime_samples": 16,
    "epochs": 1,
    "image_size": 128,
    "promote": True,
    "crawl_options": {"image_width": 128, "image_height": 96},
    "train_options": {"input_size": 64},
    "explain_options": {"spark": False, "overlays": 0, "lime": {"score_size": 64}},
    "detect_options": {"batch_size": 2, "overlays": 0},
}


def _counting(monkeypatch: pytest.MonkeyPatch, module, fail_first: bool = False) -> list[int]:
    calls: list[int] = []
    real = module.run

    def wrapped(params):
        calls.append(1)
        if fail_first and len(calls) == 1:
            raise RuntimeError("the explain worker was killed")
        return real(params)

    monkeypatch.setattr(module, "run", wrapped)
    return calls


@pytest.mark.slow
def test_build_detector_end_to_end_resumes_and_scores(
    prefect_api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import nolabel.components.crawl.step as crawl_step
    import nolabel.components.lime.step as lime_step
    import nolabel.components.transfer.step as transfer_step
    from nolabel.components.common import tracking
    from nolabel.flows.pipeline import build_detector
    from nolabel.flows.score import score_folder

    crawls = _counting(monkeypatch, crawl_step)
    trains = _counting(monkeypatch, transfer_step)
    explains = _counting(monkeypatch, lime_step, fail_first=True)
    with pytest.raises(RuntimeError, match="explain worker was killed"):
        build_detector(params=TINY)
    assert (len(crawls), len(trains), len(explains)) == (1, 1, 1)

    summary = build_detector(params=TINY)
    assert (len(crawls), len(trains), len(explains)) == (1, 1, 2)  # resumed at explain
    steps = summary["steps"]
    assert steps["crawl"]["counts"] == {"positive": 8, "negative": 8}
    assert steps["explain"]["images_explained"] >= 1 and steps["explain"]["boxes"] >= 1
    assert "gt_ap50" in steps["evaluate"]["metrics"]
    classifier, detector = summary["models"]["classifier"], summary["models"]["detector"]
    assert classifier["uri"] == "models:/nolabel-classifier@production"
    assert tracking.alias_version("nolabel-classifier", "production") == classifier["version"]
    assert tracking.alias_version("nolabel-detector", "production") == detector["version"]
    assert set(summary["mlflow_runs"]) >= {"train", "explain", "detect", "evaluate"}
    json.dumps(summary)  # the CLI prints it as one JSON line

    out = tmp_path / "scores.json"
    scored = score_folder(params={"source": "datasets/tiny-demo/images", "out": str(out)})
    assert scored["result"]["scored"] == 16 and scored["result"]["failed"] == 0
    assert out.exists()
