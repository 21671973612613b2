"""`nolabel score` reading frames straight from S3 (moto_server) and writing its results there:
the same records, bursts and failure reasons as the same card on disk; odd keys never read; a
rerun in a fresh work folder resumes from the partial log kept in the store."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.errors import InputError
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.detect.shapes import make_image
from tests.detect.test_score import classifier_dir  # noqa: F401  (fixture)


def _jpeg(rng: np.random.Generator, stamp: str | None = None) -> bytes:
    image = make_image(rng, 64)[0]
    buffer = io.BytesIO()
    if stamp is None:
        image.save(buffer, format="JPEG", quality=95)
    else:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = stamp
        image.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def _card() -> dict[str, bytes]:
    """Three frames one second apart by EXIF (a burst no name tells), a name burst, a photo in
    a folder, a zero-byte frame, a text file, a fake JPEG and a hidden file."""
    rng = np.random.default_rng(3)
    card = {f"100CAM/IMG_{i:04d}.JPG": _jpeg(rng, f"2024:05:01 10:00:0{i}") for i in range(3)}
    card |= {f"101CAM/SEQ9_{i:02d}.jpg": _jpeg(rng) for i in range(1, 4)}
    card["101CAM/night/deer.jpg"] = _jpeg(rng)
    card["zero.jpg"] = b""
    card["notes.txt"] = b"battery low\n"
    card["fake.jpg"] = b"not really a jpeg"
    card[".Trashes/old.jpg"] = _jpeg(rng)
    return card


def _boto(endpoint: str):
    """A boto3 client: it writes keys with ``..`` parts (other S3 tools do), minio refuses to."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=f"http://{endpoint}", aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
    )  # fmt: skip


def _params(images: str, out: str, classifier: Path):
    from nolabel.components.detect.contract import ScoreParams

    return ScoreParams(
        images=images, out=out, classifier=str(classifier), use_detector=False, proposals=False,
        batch_size=2,
    )  # fmt: skip


@pytest.mark.timeout(240)
def test_score_reads_and_writes_the_store_like_a_folder(
    s3_bucket,
    classifier_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from nolabel.components.common.settings import get_settings
    from nolabel.components.common.store import open_store
    from nolabel.components.detect.score import run_score
    from nolabel.components.results.records import load_results

    monkeypatch.setenv("NOLABEL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    card, store = _card(), open_store()
    local = tmp_path / "card"
    for rel, data in card.items():
        store.put_bytes(f"cards/7/{rel}", data)
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    store.put_bytes("cards/7/gone.jpg", card["101CAM/night/deer.jpg"])
    deer = card["101CAM/night/deer.jpg"]
    for odd in (
        "cards/7/a//b.jpg",
        "cards/7/bell\x07.jpg",
        "cards/7/pad.jpg ",
    ):
        store.client.put_object(s3_bucket, odd, io.BytesIO(deer), len(deer))  # no key check
    _boto(store.endpoint).put_object(Bucket=s3_bucket, Key="cards/7/x/../y.jpg", Body=deer)
    store.put_bytes("cards/70/other.jpg", card["101CAM/night/deer.jpg"])  # not the prefix

    from nolabel.components.detect import frame_source

    real_scan = frame_source.StoreFrames.scan

    def scan_then_delete(self):
        scan = real_scan(self)
        store.delete("cards/7/gone.jpg")  # removed after the listing
        return scan

    monkeypatch.setattr(frame_source.StoreFrames, "scan", scan_then_delete)
    uri = f"s3://{s3_bucket}/runs/7/results.json"
    first = run_score(_params(f"s3://{s3_bucket}/cards/7", uri, classifier_dir))
    assert first.out == uri and first.partial == uri + ".partial.jsonl"
    assert all(v.startswith(f"s3://{s3_bucket}/runs/7/") for v in first.exports.values())
    assert all(store.exists(store.key_from_uri(v)) for v in first.exports.values())
    remote = json.loads(store.get_bytes("runs/7/results.json"))
    assert remote["root"] == f"s3://{s3_bucket}/cards/7/"

    on_disk = run_score(_params(str(local), str(tmp_path / "local.json"), classifier_dir))
    disk = json.loads((tmp_path / "local.json").read_text())
    assert remote["images"] == disk["images"]  # same records, bursts and verdicts
    by_path = {r["path"]: r for r in remote["images"]}
    assert {by_path[f"100CAM/IMG_{i:04d}.JPG"]["burst_size"] for i in range(3)} == {3}  # EXIF
    assert by_path["101CAM/SEQ9_01.jpg"]["burst"] == "101CAM/SEQ9"
    reasons = {f["path"]: f["reason"] for f in remote["failures"]}
    assert {k: v for k, v in reasons.items() if k in {f["path"] for f in disk["failures"]}} == {
        f["path"]: f["reason"] for f in disk["failures"]
    }
    assert reasons == {
        "zero.jpg": "not_an_image",
        "notes.txt": "not_an_image",
        "fake.jpg": "not_an_image",
        "gone.jpg": "unreadable",
        "a%2F%2Fb%2Ejpg": "not_a_file",  # odd keys: percent-encoded, "." too
        "bell%07%2Ejpg": "not_a_file",
        "pad%2Ejpg%20": "not_a_file",
        "x%2F%2E%2E%2Fy%2Ejpg": "not_a_file",
    }
    assert first.files == on_disk.files + 1 and first.scored == on_disk.scored

    # A new pod: an empty work folder; the partial log in the store is what it resumes from.
    shutil.rmtree(tmp_path / "home" / "work")
    store.delete("runs/7/results.json")
    again = run_score(_params(f"s3://{s3_bucket}/cards/7/", uri, classifier_dir))
    assert again.scored == 0 and again.resumed == first.scored
    assert json.loads(store.get_bytes("runs/7/results.json"))["images"] == remote["images"]

    copy = tmp_path / "copy.json"
    copy.write_bytes(store.get_bytes("runs/7/results.json"))
    with pytest.raises(InputError, match="copy the card locally"):
        load_results(copy)
    assert load_results(copy, local).root == local.resolve()  # a local copy sorts


def test_store_frames_refuse_what_they_cannot_do(s3_bucket, tmp_path, monkeypatch):
    from nolabel.components.detect.frame_source import StoreFrames, open_frames

    with pytest.raises(InputError, match="copy the card locally to crop"):
        open_frames(f"s3://{s3_bucket}/cards", crops=str(tmp_path / "crops"))
    with pytest.raises(InputError, match="not in the configured store"):
        open_frames("s3://another-bucket/cards")
    from nolabel.components.detect.score_target import ScoreTarget

    with pytest.raises(InputError, match="--out s3://another-bucket/r.json is not in the conf"):
        ScoreTarget("s3://another-bucket/r.json")
    frames = open_frames(f"s3://{s3_bucket}")
    assert isinstance(frames, StoreFrames) and frames.prefix == ""
    assert frames.uri == f"s3://{s3_bucket}/"


def test_partial_logs_sync_to_the_store_while_the_run_goes(s3_bucket, tmp_path, monkeypatch):
    from nolabel.components.common.settings import get_settings
    from nolabel.components.common.store import open_store
    from nolabel.components.detect.score_target import ScoreTarget

    monkeypatch.setenv("NOLABEL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    store, uri = open_store(), f"s3://{s3_bucket}/runs/r.json"
    store.put_bytes("runs/r.json.shard-1-of-2.partial.jsonl", b'{"a": 1}\n')
    store.put_bytes("runs/r.json.d/x.partial.jsonl", b"not mine\n")
    stale = ScoreTarget(uri).local
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")  # an earlier run's results in the work folder
    with ScoreTarget(uri, sync_seconds=0.05) as target:
        shard = target.local.with_name("r.json.shard-1-of-2.partial.jsonl")
        assert shard.read_bytes() == b'{"a": 1}\n'  # pulled before the run
        assert not target.local.with_name("x.partial.jsonl").exists()
        assert not stale.exists()  # never uploaded as this run's results
        partial = target.local.with_name("r.json.partial.jsonl")
        partial.write_bytes(b'{"b": 2}\n{"b": 3')  # a line being written
        for _ in range(100):
            if store.exists("runs/r.json.partial.jsonl"):
                break
            target._stop.wait(0.05)
        assert store.get_bytes("runs/r.json.partial.jsonl") == b'{"b": 2}\n'
    with pytest.raises(RuntimeError), ScoreTarget(uri, sync_seconds=3600) as target:
        assert partial.read_bytes() == b'{"b": 2}\n{"b": 3'  # the longer local log is kept
        partial.write_bytes(b'{"b": 2}\n{"b": 3}\n')
        raise RuntimeError("a power cut")
    assert store.get_bytes("runs/r.json.partial.jsonl") == b'{"b": 2}\n{"b": 3}\n'
