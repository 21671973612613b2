"""``refresh`` promotes only what beats production; ``score_folder`` scores folders and prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nolabel.components.common.store import open_store
from nolabel.components.detect.contract import ScoreParams, ScoreResult
from tests.flows import steps_for_tests
from tests.flows.test_resume import PARAMS, quick_steps  # noqa: F401 (fixture)


def _production(name: str) -> str | None:
    from nolabel.flows.promotion import production_version

    return production_version(name)


def test_refresh_promotes_only_models_that_beat_production(
    prefect_api,
    quick_steps,  # noqa: F811
) -> None:
    from nolabel.flows.refresh import refresh

    steps_for_tests.QUALITY.update({"classifier": 0.8, "detector": 0.5})
    first = refresh(params={"pipeline": PARAMS, "tag": "week-1"})
    assert first["decisions"]["classifier"]["promote"] is True
    assert first["decisions"]["detector"]["reason"] == "no production version yet"
    assert _production("nolabel-classifier") == "1" and _production("nolabel-detector") == "1"

    # a week later: a worse classifier and a better detector (on the same true boxes)
    steps_for_tests.QUALITY.update({"classifier": 0.7, "detector": 0.6})
    second = refresh(params={"pipeline": PARAMS, "tag": "week-2"})
    assert quick_steps["crawl"] == 2  # a new tag re-crawls
    classifier, detector = second["decisions"]["classifier"], second["decisions"]["detector"]
    assert classifier["promote"] is False
    assert (classifier["new_value"], classifier["production_value"]) == (0.7, 0.8)
    assert detector["promote"] is True and detector["metric"] == "gt_ap50"
    assert (detector["new_value"], detector["production_value"]) == (0.6, 0.5)
    assert second["steps"]["evaluate-production"]["model_uri"] == "models:/nolabel-detector/1"
    assert _production("nolabel-classifier") == "1" and _production("nolabel-detector") == "2"
    assert second["models"]["detector"]["alias"] == "production"
    assert second["models"]["classifier"]["alias"] == "candidate"

    # a tie keeps production
    third = refresh(params={"pipeline": PARAMS, "tag": "week-3"})
    assert third["decisions"]["detector"]["promote"] is False
    assert _production("nolabel-detector") == "2"


@pytest.fixture
def recorded_score(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The score step replaced by one that lists the folder it is given and writes results."""
    calls: list[dict] = []

    def score(params: ScoreParams) -> ScoreResult:
        calls.append(params.model_dump())
        files = sorted(p.name for p in Path(params.images).rglob("*.jpg"))
        Path(params.out).parent.mkdir(parents=True, exist_ok=True)
        Path(params.out).write_text(json.dumps({"files": files}))
        counts = {"files": len(files), "scored": len(files), "resumed": 0, "failed": 0}
        return ScoreResult(
            out=params.out,
            partial=params.out + ".partial",
            **counts,
            positives=0,
            boxes=0,
            seconds=0.1,
            images_per_second=1.0,
            classifier=None,
            detector=None,
        )

    monkeypatch.setattr(steps_for_tests, "score", score, raising=False)
    steps_for_tests.use_quick(monkeypatch, "score")
    return calls


def test_score_folder_scores_a_bucket_prefix_via_a_local_cache(
    prefect_api, s3_bucket: str, recorded_score: list[dict], tmp_path: Path
) -> None:
    from nolabel.flows.score import score_folder

    store = open_store()
    for name in ("a.jpg", "sub/b.jpg"):
        store.put_bytes(f"cards/card-7/{name}", b"\xff\xd8\xff not really")
    store.put_bytes("cards/card-7/notes.txt", b"not an image")
    out = tmp_path / "results.json"
    summary = score_folder(params={"source": f"s3://{s3_bucket}/cards/card-7", "out": str(out)})
    (call,) = recorded_score
    assert Path(call["images"]).is_dir() and call["images"] == summary["images_dir"]
    assert json.loads(out.read_text()) == {"files": ["a.jpg", "b.jpg"]}
    assert summary["stored"].startswith(f"s3://{s3_bucket}/flows/scores/")
    assert summary["result"]["scored"] == 2

    score_folder(params={"source": "cards/card-7", "out": str(out), "batch_size": 4})
    assert recorded_score[1]["images"] == call["images"] and recorded_score[1]["batch_size"] == 4


def test_score_folder_refuses_a_missing_source_without_retrying(
    prefect_api, recorded_score
) -> None:
    import time

    from nolabel.components.common.errors import InputError
    from nolabel.flows.score import score_folder

    started = time.monotonic()
    with pytest.raises(InputError, match="neither a local directory nor a store prefix"):
        score_folder(params={"source": "no/such/prefix"})
    assert recorded_score == []
    assert time.monotonic() - started < 5  # a user error is not retried (first delay: 5 s)


def test_score_folder_refuses_a_misspelled_option_before_fetching(
    prefect_api, recorded_score
) -> None:
    from prefect.exceptions import ParameterTypeError

    from nolabel.flows.score import score_folder

    # The options are typed as ScoreParams': the flow's parameters are refused before it runs.
    with pytest.raises(ParameterTypeError, match=r"params\.options\.min_scor: Extra inputs"):
        score_folder(params={"source": "no/such/prefix", "options": {"min_scor": 0.5}})
    assert recorded_score == []
