"""`nolabel score` in shards: the shard rule, shards as separate processes then `--merge`
(records and results identical to a local run), a missing shard, resume, one writer a log."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.detect.contract import ScoreParams
from nolabel.components.detect.shards import shard_index, shard_log, shard_of
from tests.conftest import REPO_ROOT
from tests.detect.test_score import classifier_dir  # noqa: F401  (fixture)

SHARDS = 3


def test_shard_rule_is_sha1_of_the_burst_key_in_every_process() -> None:
    keys = ["DCIM/CAM01/SEQ0001", "DCIM/CAM02/SEQ0002", "cam/IMG_0001.JPG", "ünï/🦌"]
    expected = [int(hashlib.sha1(k.encode()).hexdigest(), 16) % 7 for k in keys]
    assert [shard_of(k, 7) for k in keys] == expected
    assert shard_of("DCIM/CAM01/SEQ0001", 7) == 5  # written down: never Python's salted hash()
    code = (
        "import json, sys; from nolabel.components.detect.shards import shard_of; "
        "print(json.dumps([shard_of(k, 7) for k in json.loads(sys.argv[1])]))"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(keys)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert json.loads(done.stdout) == expected
    assert {shard_of(k, 1) for k in keys} == {0}


def test_shard_index_from_the_flag_or_the_indexed_job() -> None:
    params = ScoreParams(images="x", out="o.json", shard_count=4)
    assert shard_index(params, {"JOB_COMPLETION_INDEX": "2"}) == 2
    assert shard_index(params.model_copy(update={"shard_index": 1}), {}) == 1
    assert shard_index(ScoreParams(images="x", out="o.json"), {"JOB_COMPLETION_INDEX": "2"}) is None
    with pytest.raises(InputError, match="needs --shard-index"):
        shard_index(params, {})
    for raw in ("two", "²", "-1"):
        with pytest.raises(InputError, match="whole number"):
            shard_index(params, {"JOB_COMPLETION_INDEX": raw})
    with pytest.raises(InputError, match="out of range"):
        shard_index(params, {"JOB_COMPLETION_INDEX": "4"})
    assert shard_log(Path("/r/out.json"), 2, 4) == Path("/r/out.json.shard-2-of-4.partial.jsonl")
    assert shard_log(Path("/r/out.json"), 0, 1) == Path("/r/out.json.partial.jsonl")  # whole card


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """Six bursts of three frames (the demo generator), in two camera folders."""
    from nolabel.flows.demo_card import write_demo_card

    write_demo_card(tmp_path / "card", bursts=6, frames=3)
    return tmp_path / "card"


def _args(card: Path, classifier: Path, out: Path) -> list[str]:
    return ["--images", str(card), "--out", str(out), "--classifier", str(classifier),
            "--no-detect", "--batch-size", "4"]  # fmt: skip


def _cli(args: list[str], **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "nolabel.components.cli", "score", *args],
        cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _local(card: Path, classifier: Path, out: Path) -> dict:
    from typer.testing import CliRunner

    from nolabel.components.cli import build_app

    result = CliRunner().invoke(build_app(), ["score", *_args(card, classifier, out)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def _records(*logs: Path) -> list[bytes]:
    return sorted(line for log in logs for line in log.read_bytes().splitlines() if line)


def _megadetector(result: dict) -> dict:
    """The MegaDetector file without its completion times."""
    data = json.loads(Path(result["exports"]["megadetector"]).read_text())
    data["info"] = {k: v for k, v in data["info"].items() if not k.endswith("completion_time")}
    return data


@pytest.mark.slow
def test_shards_in_separate_processes_then_merge_equal_a_local_run(
    card: Path,
    classifier_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    local_out, out = tmp_path / "local" / "r.json", tmp_path / "shards" / "r.json"
    local = _local(card, classifier_dir, local_out)
    args = [*_args(card, classifier_dir, out), "--shard-count", str(SHARDS)]
    shards = [_cli([*args, "--shard-index", "0"]), _cli(args, JOB_COMPLETION_INDEX="1"),
              _cli([*args, "--shard-index", "2"])]  # fmt: skip
    assert [s["shard_index"] for s in shards] == [0, 1, 2]
    assert not any(s["written"] for s in shards) and not out.exists()
    assert sum(s["files"] for s in shards) == local["files"] == 19  # 18 frames + truth.coco.json
    assert all(s["files"] > 0 for s in shards)  # 6 bursts spread over all 3 shards
    logs = [shard_log(out, index, SHARDS) for index in range(SHARDS)]
    for index, log in enumerate(logs):  # whole bursts: a burst's frames all in one log
        paths = [json.loads(line)["path"] for line in log.read_text().splitlines()]
        bursts = {path.rsplit("_", 1)[0] if "_" in path else path for path in paths}
        assert all(shard_of(burst, SHARDS) == index for burst in bursts), log

    merged = _cli([*args, "--merge"])
    assert merged["written"] and merged["scored"] == 0 and merged["resumed"] == local["scored"]
    assert _records(*logs) == _records(local_out.with_name("r.json.partial.jsonl"))
    assert out.read_bytes() == local_out.read_bytes()  # same root, same records, same policy
    for key in ("frames_csv", "bursts_csv"):
        assert Path(merged["exports"][key]).read_bytes() == Path(local["exports"][key]).read_bytes()
    assert _megadetector(merged) == _megadetector(local)
    for key in ("verdicts", "bursts", "boxes", "positives", "failed", "files"):
        assert merged[key] == local[key], key
    assert local["verdicts"]["animal"] > 0  # a policy that boxes something was compared

    # A shard lost: one error naming it, nothing written.
    for written in (out, *map(Path, merged["exports"].values())):
        written.unlink()
    logs[1].rename(tmp_path / "lost.jsonl")
    from nolabel.components.detect.score import run_score

    params = ScoreParams.model_validate(
        {"images": str(card), "out": str(out), "classifier": str(classifier_dir),
         "use_detector": False, "shard_count": SHARDS, "merge": True}
    )  # fmt: skip
    with pytest.raises(InputError, match=r"score shard\(s\) 1 of 3 again"):
        run_score(params)
    assert not out.exists() and not any(map(os.path.exists, merged["exports"].values()))

    # Resume: the shard scores only what its log lacks (a cut last line is scored again).
    kept = (tmp_path / "lost.jsonl").read_bytes().splitlines(keepends=True)
    logs[1].write_bytes(b"".join(kept[:2]) + kept[2][:25])
    again = _cli([*args, "--shard-index", "1"])
    assert again["scored"] == sum(b'"error"' not in line for line in kept[2:]) > 0
    paths = [json.loads(line)["path"] for line in logs[1].read_text().splitlines()]
    assert sorted(paths) == sorted(set(paths)) and len(paths) == len(kept)
    assert _records(*logs) == _records(local_out.with_name("r.json.partial.jsonl"))
    run_score(params)
    assert out.read_bytes() == local_out.read_bytes()

    # One shard is the whole card (a one-pod Indexed Job): --merge reads the plain run's log.
    for written in (local_out, *map(Path, local["exports"].values())):
        written.rename(written.with_name(written.name + ".before"))
    run_score(params.model_copy(update={"out": str(local_out), "shard_count": 1}))
    assert local_out.read_bytes() == local_out.with_name("r.json.before").read_bytes()


def test_a_shard_log_has_one_writer_at_a_time(tmp_path: Path) -> None:
    from nolabel.components.detect.score_shards import shard_lock

    log = tmp_path / "r.json.shard-0-of-2.partial.jsonl"
    busy = pytest.raises(InputError, match="being written by another process")
    with shard_lock(log), busy, shard_lock(log, wait=0.3):
        pass
    with shard_lock(log, wait=0.3):  # released: the next writer gets it
        pass


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"shard_count": 3}, "needs --shard-index"),
        ({"shard_count": 3, "merge": True, "shard_index": 1}, "leave out --shard-index"),
        ({"shard_count": 3, "shard_index": 3}, "out of range"),
        ({"merge": True, "spark_master": "local[1]"}, "--spark-master scores every shard"),
    ],
)
def test_shard_options_that_do_not_fit_are_one_error(
    extra: dict, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nolabel.components.detect.score import run_score

    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    (tmp_path / "card").mkdir()
    params = ScoreParams(images=str(tmp_path / "card"), out=str(tmp_path / "r.json"), **extra)
    with pytest.raises(InputError, match=message):
        run_score(params)


def test_spark_shard_count_given_else_that_of_the_logs_else_twice_the_cores(tmp_path: Path) -> None:
    from nolabel.components.detect.score_spark import shard_count

    out = tmp_path / "r.json"
    params = ScoreParams(images="x", out=str(out))
    assert shard_count(params, out, 3) == 6
    shard_log(out, 0, 5).write_text("")
    assert shard_count(params, out, 3) == 5  # a rerun resumes the logs it finds
    assert shard_count(params.model_copy(update={"resume": False}), out, 3) == 6
    assert shard_count(params.model_copy(update={"shard_count": 4}), out, 3) == 4


@pytest.mark.parametrize(
    ("env", "extra", "expected"),
    [
        ({"NOLABEL_SPARK_MASTER": "local[1]"}, {}, "spark"),
        ({"NOLABEL_SPARK_MASTER": "local[1]"}, {"shard_count": 4}, "spark"),
        ({"NOLABEL_SPARK_MASTER": "local[1]", "JOB_COMPLETION_INDEX": "1"}, {"shard_count": 4},
         "shard 1"),  # a pod of an Indexed Job scores its shard
        ({"JOB_COMPLETION_INDEX": "1"}, {"shard_count": 4, "spark_master": "local[1]"}, "spark"),
        ({"JOB_COMPLETION_INDEX": "1"}, {"shard_count": 4}, "shard 1"),
        ({"JOB_COMPLETION_INDEX": "1"}, {}, "local"),  # one shard: the index is not read
    ],
)  # fmt: skip
def test_which_run_the_options_and_environment_ask_for(
    env: dict, extra: dict, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nolabel.components.common.settings import get_settings
    from nolabel.components.detect import score_shards, score_spark

    for name in ("NOLABEL_SPARK_MASTER", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    monkeypatch.setattr(score_spark, "run_spark", lambda params, master: "spark")
    monkeypatch.setattr(score_shards, "run_shard", lambda params, index: f"shard {index}")
    params = ScoreParams(images=str(tmp_path), out=str(tmp_path / "r.json"), **extra)
    ran = score_shards.run_sharded(params) if score_shards.sharded(params) else "local"
    assert ran == expected


def test_executors_load_the_versions_the_driver_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from nolabel.components.detect.score_spark import _pin, _spark_error

    loaded = SimpleNamespace(name="nolabel-classifier", version="5")
    assert _pin(None, loaded) == "models:/nolabel-classifier/5"  # the registry's default
    assert _pin("models:/nolabel-classifier@candidate", loaded) == "models:/nolabel-classifier/5"
    assert _pin("models:/nolabel-classifier/2", loaded) == "models:/nolabel-classifier/2"
    assert _pin("runs:/abc/model", loaded) == "runs:/abc/model"
    assert _pin(None, None) is None
    (tmp_path / "clf").mkdir()
    monkeypatch.chdir(tmp_path)
    assert _pin("clf", SimpleNamespace(name="x", version=None)) == str(tmp_path / "clf")
    wrapped = RuntimeError("Py4JJavaError ... InputError: cannot load model x\n  at ...")
    assert str(_spark_error(wrapped)) == "a Spark task failed: cannot load model x"
    other = RuntimeError("Java heap space")
    assert _spark_error(other) is other


@pytest.mark.timeout(300)
def test_shards_as_pods_on_the_store_then_merge_equal_one_run(
    s3_bucket: str,
    card: Path,
    classifier_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chart's Indexed Job: frames and results in S3, each pod its own empty home."""
    from nolabel.components.common.settings import get_settings
    from nolabel.components.common.store import open_store
    from nolabel.components.detect.score import run_score

    def pod(name: str, index: int | None, **extra) -> object:
        monkeypatch.setenv("NOLABEL_HOME", str(tmp_path / name))
        if index is None:
            monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
        else:
            monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
        get_settings.cache_clear()
        return run_score(
            ScoreParams(images=images, classifier=str(classifier_dir), use_detector=False,
                        proposals=False, batch_size=2, **extra)
        )  # fmt: skip

    store = open_store()
    for path in sorted(card.rglob("*.jpg")):
        store.put_bytes(f"cards/c/{path.relative_to(card).as_posix()}", path.read_bytes())
    images = f"s3://{s3_bucket}/cards/c/"
    one = pod("one", None, out=f"s3://{s3_bucket}/runs/one/r.json")
    out = f"s3://{s3_bucket}/runs/c/r.json"
    shards = [pod(f"pod{i}", i, out=out, shard_count=SHARDS) for i in range(SHARDS)]
    assert not any(s.written for s in shards) and not store.exists("runs/c/r.json")
    assert sorted(s.partial.rsplit("/", 1)[1] for s in shards) == [
        f"r.json.shard-{i}-of-{SHARDS}.partial.jsonl" for i in range(SHARDS)
    ]
    merged = pod("merge", None, out=out, shard_count=SHARDS, merge=True)
    assert merged.written and merged.out == out and merged.files == one.files == 18
    assert store.get_bytes("runs/c/r.json") == store.get_bytes("runs/one/r.json")
    assert store.get_bytes("runs/c/r.frames.csv") == store.get_bytes("runs/one/r.frames.csv")
    logs = [store.get_bytes(f"runs/c/r.json.shard-{i}-of-{SHARDS}.partial.jsonl")
            for i in range(SHARDS)]  # fmt: skip
    lines = sorted(line for log in logs for line in log.splitlines())
    assert lines == sorted(store.get_bytes("runs/one/r.json.partial.jsonl").splitlines())


def test_a_record_is_the_same_whatever_frames_share_its_batch() -> None:
    """A frame of a burst too short for burst change carries no ``change_boxes``, also when its
    batch holds frames of a longer burst (shards batch other frames than one run does)."""
    import numpy as np

    from nolabel.components.detect.evidence import FrameModels
    from nolabel.components.detect.score import _score_batch
    from nolabel.components.detect.score_frames import Decoded

    frame = Decoded(np.zeros((8, 8, 3), dtype=np.uint8), (8, 8))
    alone = _score_batch([("a.jpg", frame, None)], FrameModels(), 0.05)
    mixed = _score_batch([("b.jpg", frame, []), ("a.jpg", frame, None)], FrameModels(), 0.05)
    assert mixed[1] == alone[0] == {"path": "a.jpg", "width": 8, "height": 8}
    assert mixed[0]["change_boxes"] == []  # burst change ran on it and found nothing
