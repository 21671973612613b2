"""``score_folder`` fans a card out as shard tasks then a merge, or reads a bucket in place:
the same records as one task, with the real score step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nolabel.components.common.store import open_store
from tests.detect.test_score import classifier_dir  # noqa: F401  (fixture)


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """Five bursts of three frames (the demo generator), in camera folders."""
    from nolabel.flows.demo_card import write_demo_card

    write_demo_card(tmp_path / "card", bursts=5, frames=3)
    return tmp_path / "card"


def _images(path: Path) -> list[dict]:
    return sorted(json.loads(path.read_text())["images"], key=lambda r: r["path"])


def _params(source: str, classifier: Path, out: Path, **extra) -> dict:
    options = {"use_detector": False, "proposals": False}
    return {"source": source, "out": str(out), "classifier": str(classifier),
            "batch_size": 4, "options": options, **extra}  # fmt: skip


def test_shard_tasks_then_a_merge_give_the_records_of_one_task(
    prefect_api,
    card: Path,
    classifier_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    from nolabel.flows.score import score_folder

    whole = score_folder(params=_params(str(card), classifier_dir, tmp_path / "one.json"))
    assert whole["shards"] == [] and whole["result"]["scored"] == 15

    out = tmp_path / "sharded.json"
    fanned = score_folder(params=_params(str(card), classifier_dir, out, shards=3))
    assert [s["shard_index"] for s in fanned["shards"]] == [0, 1, 2]
    assert all(s["written"] is False and s["shard_count"] == 3 for s in fanned["shards"])
    assert sum(s["scored"] for s in fanned["shards"]) == 15  # each frame once, in one shard
    assert (
        fanned["result"]["written"] is True
        and fanned["result"]["files"] == whole["result"]["files"]
    )
    assert _images(out) == _images(tmp_path / "one.json")
    assert {p.name for p in tmp_path.glob("sharded.json.shard-*-of-3.partial.jsonl")} == {
        f"sharded.json.shard-{i}-of-3.partial.jsonl" for i in range(3)
    }


def test_a_bucket_prefix_read_in_place_by_shards(
    prefect_api,
    s3_bucket: str,
    card: Path,
    classifier_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    from nolabel.flows.score import score_folder

    store = open_store()
    for path in sorted(p for p in card.rglob("*") if p.is_file()):
        store.put_file(f"cards/night-1/{path.relative_to(card).as_posix()}", path)
    local = score_folder(params=_params(str(card), classifier_dir, tmp_path / "local.json"))
    out = tmp_path / "bucket.json"
    source = f"s3://{s3_bucket}/cards/night-1"
    summary = score_folder(params=_params(source, classifier_dir, out, shards=2, in_place=True))
    assert summary["images_dir"] == source  # not copied to a local cache first
    assert summary["result"]["files"] == local["result"]["files"]
    assert _images(out) == _images(tmp_path / "local.json")
    assert summary["stored"].startswith(f"s3://{s3_bucket}/flows/scores/")
