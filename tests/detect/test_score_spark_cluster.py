"""`nolabel score --spark-master` on a real standalone cluster (a master and two 1-core workers
on 127.0.0.1, ``tests/spark_cluster.py``): the same records and results as a local run, models
loaded once per executor, and an executor killed mid-run still ends with every frame scored
exactly once (Spark retries its task, which resumes from the shard's log). And on ``local[2]``
with the frames in S3: executors read the store themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FETCHED_WEIGHTS, REPO_ROOT
from tests.detect.test_score import classifier_dir  # noqa: F401  (fixture)
from tests.spark_cluster import Cluster, standalone_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with standalone_cluster(tmp_path_factory.mktemp("score-cluster"), workers=2) as running:
        yield running


@pytest.fixture
def card(tmp_path: Path) -> Path:
    from nolabel.flows.demo_card import write_demo_card

    write_demo_card(tmp_path / "card", bursts=12, frames=3)
    return tmp_path / "card"


def _command(card: Path, classifier: Path, out: Path, *extra: str) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    env |= {"NOLABEL_HOME": os.environ["NOLABEL_HOME"], "NOLABEL_SPARK_DRIVER_MEMORY": "1g",
            "NOLABEL_WEIGHTS_DIR": str(FETCHED_WEIGHTS)}  # fmt: skip
    args = [sys.executable, "-m", "nolabel.components.cli", "score", "--images", str(card),
            "--out", str(out), "--classifier", str(classifier), "--no-detect", *extra]  # fmt: skip
    return args, env


def _score(card: Path, classifier: Path, out: Path, *extra: str) -> dict:
    args, env = _command(card, classifier, out, *extra)
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _records(out: Path) -> list[bytes]:
    logs = sorted(out.parent.glob(out.name + "*.partial.jsonl"))
    return sorted(line for log in logs for line in log.read_bytes().splitlines() if line)


def _holder(path: Path) -> int | None:
    """The process that has ``path`` open, if any."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == str(path) for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def _executor_of(pid: int) -> int | None:
    """The Spark executor JVM above the Python worker ``pid``."""
    while pid > 1:
        if b"CoarseGrainedExecutorBackend" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def _kill_an_executor_mid_shard(out: Path, shards: int, process: subprocess.Popen) -> int:
    """Wait until a shard's log holds records but the shard is still being scored; SIGKILL the
    executor scoring it; the number of records its log held."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None:
        for index in range(shards):
            log = out.with_name(f"{out.name}.shard-{index}-of-{shards}.partial.jsonl")
            lines = log.read_bytes().count(b"\n") if log.exists() else 0
            holder = _holder(log.with_name(log.name + ".lock")) if lines >= 2 else None
            executor = _executor_of(holder) if holder else None
            if executor:
                os.kill(executor, signal.SIGKILL)
                return lines
        time.sleep(0.05)
    raise AssertionError(f"no shard caught mid-run: {process.communicate()[1][-4000:]}")


def test_score_on_a_standalone_cluster_matches_local_and_survives_a_killed_executor(
    cluster: Cluster,
    card: Path,
    classifier_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    local_out = tmp_path / "local" / "r.json"
    local = _score(card, classifier_dir, local_out, "--batch-size", "4")

    out = tmp_path / "cluster" / "r.json"
    remote = _score(card, classifier_dir, out, "--batch-size", "4", "--spark-master",
                    cluster.master_url, "--shard-count", "4")  # fmt: skip
    assert _records(out) == _records(local_out)
    assert out.read_bytes() == local_out.read_bytes()
    assert remote["scored"] == local["scored"] > 30 and remote["shard_count"] == 4
    # Four tasks on (at most) two executors: each executor process loaded the models once.
    assert 1 <= len(remote["model_loads"]) <= 2 and set(remote["model_loads"].values()) == {1}
    apps = {app["name"]: app for app in cluster.state().get("completedapps", [])}
    assert apps["nolabel-score"]["state"] == "FINISHED"

    killed_out = tmp_path / "killed" / "r.json"
    args, env = _command(card, classifier_dir, killed_out, "--batch-size", "1",
                         "--spark-master", cluster.master_url, "--shard-count", "2")  # fmt: skip
    process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        before = _kill_an_executor_mid_shard(killed_out, 2, process)
        stdout, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-6000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    # The retried task resumed from the log: what the killed one wrote was not scored again.
    assert result["resumed"] >= before - 1 > 0  # (one of them may be the failure record)
    assert result["scored"] + result["resumed"] == local["scored"]
    records = _records(killed_out)
    paths = [json.loads(line)["path"] for line in records]
    assert len(paths) == len(set(paths)) == local["files"]  # every frame exactly once
    assert records == _records(local_out)
    results = json.loads(killed_out.read_text())
    assert sorted(r["path"] for r in results["images"]) == sorted(
        r["path"] for r in json.loads(local_out.read_text())["images"]
    )
    assert killed_out.read_bytes() == local_out.read_bytes()


def test_score_on_local_spark_reads_frames_from_the_store(
    s3_bucket: str,
    card: Path,
    classifier_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Executors open a store ``--images`` themselves (no copy of the card on the driver)."""
    from nolabel.components.common.store import open_store
    from nolabel.components.detect.contract import ScoreParams
    from nolabel.components.detect.score import run_score

    store = open_store()
    for path in sorted(card.rglob("*.jpg")):
        store.put_bytes(f"cards/c/{path.relative_to(card).as_posix()}", path.read_bytes())
    common = {"images": f"s3://{s3_bucket}/cards/c/", "classifier": str(classifier_dir),
              "use_detector": False, "batch_size": 4}  # fmt: skip
    one = run_score(ScoreParams(out=str(tmp_path / "one" / "r.json"), **common))
    spark = run_score(
        ScoreParams(out=str(tmp_path / "spark" / "r.json"), spark_master="local[2]", **common)
    )
    assert spark.shard_count == 4 and spark.scored == one.scored == 36
    assert sum(spark.model_loads.values()) <= 2  # two Python workers at most, once each
    mine, theirs = tmp_path / "spark" / "r.json", tmp_path / "one" / "r.json"
    assert _records(mine) == _records(theirs)
    assert mine.read_bytes() == theirs.read_bytes()
