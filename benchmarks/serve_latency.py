"""Serve latency: real uvicorn on loopback, a load generator in ANOTHER process.

    .venv/bin/python benchmarks/serve_latency.py [--requests 200] [--concurrency 1,8,16]

Measures p50/p90/p99 latency, requests/s and errors of GET /healthz, POST /v1/classify and
POST /v1/predict (raw JPEG bodies from ../shared/data/webimages/lion-test) at each concurrency.
Models: registered ones in NOLABEL_HOME when present (or --classifier/--detector URIs), else a
classifier is trained here (efficientnet-lite0, 224 px, lion-train vs random) and, when the detect
step is installed, a tiny detector on synthetic centre boxes (no human boxes). Targets on a 2-core
CPU: /healthz p50 < 1 ms, classify p50 < 25 ms, predict p50 < 150 ms at concurrency 1, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEBIMAGES = REPO.parent / "shared" / "data" / "webimages"
TARGETS_MS = {"/healthz": 1.0, "/v1/classify": 25.0, "/v1/predict": 150.0}


# -- load generator (runs in its own process: ``--loadgen SPEC.json``) -------------------------
def _request_bytes(method: str, path: str, body: bytes) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: image/jpeg\r\n"
    return (head + "\r\n").encode() + body


async def _worker(port: int, requests: list[bytes], count: int, out: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(count):
        started = time.perf_counter()
        try:
            writer.write(requests[i % len(requests)])
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"content-length:")
            length = int(lower[at + 15 : lower.find(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            if status >= 400:
                errors.append(status)
            if b"connection: close" in lower:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out.append(time.perf_counter() - started)
    writer.close()


async def _load(spec: dict) -> dict:
    bodies = [Path(p).read_bytes() for p in spec["images"]] or [b""]
    method = "GET" if spec["path"] == "/healthz" else "POST"
    requests = [
        _request_bytes(method, spec["path"], b if method == "POST" else b"") for b in bodies
    ]
    concurrency, total = spec["concurrency"], spec["requests"]
    warm: list = []
    await asyncio.gather(
        *(_worker(spec["port"], requests, 3, warm, []) for _ in range(concurrency))
    )
    latencies: list[float] = []
    errors: list = []
    per_worker = max(1, total // concurrency)
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _worker(spec["port"], requests, per_worker, latencies, errors)
            for _ in range(concurrency)
        )
    )
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "endpoint": spec["path"],
        "concurrency": concurrency,
        "requests": len(latencies),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "rps": len(latencies) / wall,
        "errors": len(errors),
        "error_kinds": sorted({str(e) for e in errors}),
    }


def run_loadgen(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    print(json.dumps(asyncio.run(_load(spec))))


# -- models -------------------------------------------------------------------------------------
def _registered(name: str) -> bool:
    from nolabel.components.common import tracking

    tracking.configure()
    return any(tracking.alias_version(name, a) for a in ("production", "candidate"))


def prepare_models(args: argparse.Namespace) -> dict[str, str]:
    """Env for the server: NOLABEL_HOME with registered models, training what is missing."""
    from nolabel.components.common.settings import get_settings

    os.environ.setdefault("NOLABEL_HOME", tempfile.mkdtemp(prefix="nolabel-bench-"))
    get_settings.cache_clear()
    env = {"NOLABEL_HOME": os.environ["NOLABEL_HOME"]}
    if args.classifier:
        env["NOLABEL_CLASSIFIER_MODEL"] = args.classifier
    elif not _registered("nolabel-classifier"):
        train_classifier(args.train_images)
    if args.detector:
        env["NOLABEL_DETECTOR_MODEL"] = args.detector
    elif not _registered("nolabel-detector") and not train_detector(args.detector_images):
        env["NOLABEL_SERVE_REQUIRE_DETECTOR"] = "false"
    return env


def _arrays(paths: list[Path]) -> list[np.ndarray]:
    from nolabel.components.common.images import load_rgb, to_array

    return [to_array(load_rgb(p)) for p in paths]


def train_classifier(count: int) -> None:
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    positives = sorted((WEBIMAGES / "lion-train").glob("*.jpg"))[:count]
    negatives = sorted((WEBIMAGES / "random").glob("*.jpg"))[:count]
    images = _arrays(positives + negatives)
    labels = [1] * len(positives) + [0] * len(negatives)
    print(f"training classifier on {len(images)} images", file=sys.stderr)
    train_classifier_from_arrays(images, labels, input_size=224, register=True)


def train_detector(count: int) -> bool:
    """A small detector through the detect step's API on SYNTHETIC centre boxes (latency only;
    no human boxes). False when the MMDetection extra is not installed."""
    try:
        import mmdet  # noqa: F401

        from nolabel.components.detect.step import DetectTrainParams, run
    except ImportError:
        print("detect step not installed: /v1/predict is not measured", file=sys.stderr)
        return False
    from PIL import Image

    root = WEBIMAGES / "lion-train"
    coco: dict = {"info": {"image_root": str(root)}, "images": [], "annotations": [],
                  "categories": [{"id": 1, "name": "lion"}]}  # fmt: skip
    for index, path in enumerate(sorted(root.glob("*.jpg"))[:count], start=1):
        with Image.open(path) as image:
            width, height = image.size
        box = [0.2 * width, 0.2 * height, 0.6 * width, 0.6 * height]
        coco["images"].append(
            {"id": index, "file_name": path.name, "width": width, "height": height}
        )
        coco["annotations"].append(
            {"id": index, "image_id": index, "category_id": 1, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0}
        )  # fmt: skip
    boxes = Path(tempfile.mkdtemp(prefix="serve-bench-boxes-")) / "boxes.coco.json"
    boxes.write_text(json.dumps(coco))
    print(f"training detector on {count} images (1 epoch)", file=sys.stderr)
    run(DetectTrainParams(boxes=str(boxes), epochs=1, batch_size=4, overlays=0))
    return True


# -- server and driver --------------------------------------------------------------------------
def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    from tests.conftest import wait_for_port

    full_env = {**os.environ, **env, "NOLABEL_MODEL_REFRESH_SECONDS": "0"}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "nolabel.components.serve"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=full_env, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    wait_for_port(port, timeout=300, process=process)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="Measured requests per cell.")
    parser.add_argument(
        "--predict-requests", type=int, default=48, help="Measured requests per /v1/predict cell."
    )
    parser.add_argument("--concurrency", default="1,8,16")
    parser.add_argument("--endpoints", default="/healthz,/v1/classify,/v1/predict")
    parser.add_argument("--classifier", help="Classifier URI (default: registry or train).")
    parser.add_argument("--detector", help="Detector URI (default: registry or train).")
    parser.add_argument("--train-images", type=int, default=40, help="Per class when training.")
    parser.add_argument("--detector-images", type=int, default=16, help="When training one.")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        run_loadgen(args.loadgen)
        return
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).parent))
    from tests.conftest import free_port

    env = prepare_models(args)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    server = start_server(env, port, work / "server.log")
    images = [str(p) for p in sorted((WEBIMAGES / "lion-test").glob("*.jpg"))[:20]]
    rows = []
    try:
        import httpx

        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).json()
        detector_ready = ready["models"]["detector"]["loaded"]
        for path in args.endpoints.split(","):
            if path == "/v1/predict" and not detector_ready:
                print("no detector loaded: skipping /v1/predict", file=sys.stderr)
                continue
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                log_offset = (work / "server.log").stat().st_size
                spec = work / "spec.json"
                count = args.predict_requests if path == "/v1/predict" else args.requests
                spec.write_text(json.dumps({"port": port, "path": path, "images": images,
                                            "concurrency": concurrency,
                                            "requests": count}))  # fmt: skip
                out = subprocess.run(
                    [sys.executable, __file__, "--loadgen", str(spec)],
                    capture_output=True, text=True, check=True, cwd=REPO,
                )  # fmt: skip
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                rows[-1]["server_p50_ms"] = server_side_p50(work / "server.log", log_offset, path)
                print_row(rows[-1])
    finally:
        server.terminate()
        server.wait(timeout=60)
    print_table(rows, ready)
    print(json.dumps({"results": rows, "models": ready["models"]}, default=str))


def server_side_p50(log: Path, offset: int, route: str) -> float | None:
    """Median ``duration_ms`` of the server's JSON access log lines written since ``offset``
    (time inside the app, without the client, the network stack or the accept queue)."""
    with log.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    durations = []
    for line in lines:
        if '"request_id"' in line:
            entry = json.loads(line)
            if entry.get("route") == route:
                durations.append(entry["duration_ms"])
    return float(np.median(durations)) if durations else None


def print_row(row: dict) -> None:
    print(
        f"{row['endpoint']} c={row['concurrency']}: p50 {row['p50_ms']:.2f} ms, "
        f"{row['rps']:.1f} req/s, errors {row['errors']}",
        file=sys.stderr,
    )


def print_table(rows: list[dict], ready: dict) -> None:
    models = {k: v.get("version") for k, v in ready["models"].items()}
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nmodels: {models}; cpu cores: {os.cpu_count()}; load average at the end: {load}")
    print(
        "| endpoint | conc. | requests | p50 ms | p90 ms | p99 ms | req/s | errors "
        "| server p50 ms | target |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        target = ""
        if r["concurrency"] == 1 and r["endpoint"] in TARGETS_MS:
            limit = TARGETS_MS[r["endpoint"]]
            target = f"p50 < {limit:g} ms: {'met' if r['p50_ms'] < limit else 'MISSED'}"
        print(
            f"| {r['endpoint']} | {r['concurrency']} | {r['requests']} | {r['p50_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.1f} | {r['errors']} | "
            f"{r.get('server_p50_ms') or float('nan'):.2f} | {target} |"
        )


if __name__ == "__main__":
    main()
