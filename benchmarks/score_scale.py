"""`nolabel score` scaled out: one local process vs Spark `local[2]` vs a standalone cluster.

    .venv/bin/python benchmarks/score_scale.py --models-from .nolabel/bench-rowgain/home \
        [--frames 2000] [--demo-share 0.25] [--threads 1] [--work DIR] [--score-arg ARG ...]

Builds one card of ``--frames`` frames: camtrap-dev's camera-trap bursts (``../shared/data/
camtrap-dev/camtrap``, 1024 × 768, hard-linked again and again under ``rep<k>/``) and, for
``--demo-share`` of the frames, bursts of the demo generator (256 × 192); bursts are kept whole.
The models are the registry of ``--models-from`` (its ``mlflow.db`` is copied into a scratch
``NOLABEL_HOME``, so nothing is written there). The card is then scored three times, each a real
``nolabel score`` process: locally (one process, the default), with ``--spark-master local[2]``
and on a standalone cluster started here (a master and two 1-core workers on 127.0.0.1,
``tests/spark_cluster.py``). Prints one JSON line: per mode wall seconds, the scoring seconds
and images/s, model loads per executor process, and whether the records (every shard log's lines,
sorted) and ``results.json`` are byte for byte those of the local run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CAMTRAP = ROOT.parent / "shared" / "data" / "camtrap-dev" / "camtrap"


def _camtrap_bursts() -> list[list[Path]]:
    """camtrap-dev's frames grouped by their burst prefix (``SEQ75023_01.jpg``)."""
    bursts: dict[str, list[Path]] = {}
    for path in sorted(CAMTRAP.glob("*/*.jpg")):
        bursts.setdefault(f"{path.parent.name}/{path.stem.rsplit('_', 1)[0]}", []).append(path)
    return list(bursts.values())


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_card(card: Path, frames: int, demo_share: float) -> dict[str, int]:
    """Write the card; how many frames came from each source."""
    from nolabel.flows.demo_card import write_demo_card

    real_target, real, rep = round(frames * (1 - demo_share)), 0, 0
    bursts = _camtrap_bursts()
    while real < real_target:
        for burst in bursts:
            if real + len(burst) > real_target:
                break
            for path in burst:
                _link(path, card / f"rep{rep}" / path.parent.name / path.name)
            real += len(burst)
        else:
            rep += 1
            continue
        break
    demo = frames - real
    if demo > 0:
        truth = write_demo_card(card / "demo", bursts=math.ceil(demo / 3), frames=3, seed=1)
        truth.unlink()
        extra = sorted((card / "demo").rglob("*.jpg"))[demo:]
        for path in extra:  # whole bursts: the surplus comes off the last one
            path.unlink()
    return {"camtrap_frames": real, "demo_frames": max(demo, 0)}


def _records(out: Path) -> list[bytes]:
    logs = sorted(out.parent.glob(out.name + "*.partial.jsonl"))
    return sorted(line for log in logs for line in log.read_bytes().splitlines() if line)


def score(card: Path, out: Path, env: dict[str, str], extra: list[str]) -> dict:
    """One ``nolabel score`` process from scratch (``--restart``: a rerun on the same card
    measures again): its result, wall seconds and images/s."""
    args = [sys.executable, "-m", "nolabel.components.cli", "score", "--images", str(card),
            "--out", str(out), "--restart", *extra]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"nolabel score {' '.join(extra)} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "wall_seconds": round(wall, 1),
        "scoring_seconds": result["seconds"],
        "scored": result["scored"],
        "images_per_second_wall": round(result["scored"] / wall, 2),
        "images_per_second_scoring": result["images_per_second"],
        "shards": result["shard_count"],
        "model_loads": result["model_loads"],
    }


def compare(local: Path, other: Path) -> dict:
    """Records and results.json of ``other`` against the local run's."""
    mine, theirs = _records(local), _records(other)
    return {
        "records_identical": mine == theirs,
        "records": len(theirs),
        "records_differing": len(set(mine) - set(theirs)),
        "results_identical": local.read_bytes() == other.read_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--demo-share", type=float, default=0.25)
    parser.add_argument(
        "--models-from",
        type=Path,
        required=True,
        help="a NOLABEL_HOME whose registry holds the classifier and detector",
    )
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for all")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--score-arg", action="append", default=[],
                        help="an extra `nolabel score` argument (repeat)")  # fmt: skip
    options = parser.parse_args()
    registry = options.models_from.expanduser().resolve() / "mlflow.db"
    if not registry.is_file():
        raise SystemExit(f"{registry} does not exist: --models-from needs a NOLABEL_HOME")
    work = options.work or Path(tempfile.mkdtemp(prefix="score-scale-"))
    home, card = work / "home", work / "card"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(registry, home / "mlflow.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    env |= {"NOLABEL_HOME": str(home), "NOLABEL_SPARK_DRIVER_MEMORY": "2g",
            "NOLABEL_WEIGHTS_DIR": os.environ.get(
                "NOLABEL_WEIGHTS_DIR", str(ROOT / ".nolabel" / "weights"))}  # fmt: skip
    if options.threads:
        env["OMP_NUM_THREADS"] = str(options.threads)
    os.environ.update(env)  # the cluster's daemons see the same (minus NOLABEL_*)
    if not card.exists():
        sources = build_card(card, options.frames, options.demo_share)
    else:
        sources = {"reused_card": 1}
    extra = options.score_arg
    figures: dict = {"frames": options.frames, **sources, "threads": options.threads}
    figures["local"] = score(card, work / "local" / "r.json", env, extra)
    figures["local[2]"] = score(
        card, work / "local2" / "r.json", env, [*extra, "--spark-master", "local[2]"]
    )
    from tests.spark_cluster import standalone_cluster

    with standalone_cluster(work / "cluster-daemons", workers=2) as cluster:
        figures["cluster"] = score(
            card, work / "cluster" / "r.json", env, [*extra, "--spark-master", cluster.master_url]
        )
    local = work / "local" / "r.json"
    for mode, folder in (("local[2]", "local2"), ("cluster", "cluster")):
        figures[mode] |= compare(local, work / folder / "r.json")
        figures[mode]["speedup_wall"] = round(
            figures["local"]["wall_seconds"] / figures[mode]["wall_seconds"], 2
        )
    figures["cluster_frames_per_hour_per_core"] = round(
        figures["cluster"]["images_per_second_scoring"] * 3600 / 2
    )
    figures["work"] = str(work)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
