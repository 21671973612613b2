"""Crawl throughput: nolabel vs img2dataset downloading the same N small JPEGs from a loopback
server (a separate process) at equal concurrency, in the same run.

    .venv/bin/python benchmarks/crawl_throughput.py --images 2000 --concurrency 32

img2dataset lives in its own virtualenv (created on first use with ``pip install img2dataset``
under ~/.cache/nolabel-bench/img2dataset-venv). Both tools run as subprocesses and are timed
end to end (interpreter start included); nolabel does strictly more work per image (decode,
pixel cap, metadata strip, re-encode, sha256, perceptual hash, dedupe, manifest).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path.home() / ".cache" / "nolabel-bench" / "img2dataset-venv"


def make_jpegs(count: int, width: int, height: int) -> list[bytes]:
    """``count`` distinct small JPEGs (smooth random colour fields)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        grid = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        image = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def serve(port: int, count: int, width: int, height: int) -> None:
    """The loopback server: /img/<i>.jpg and a Bing-v7-format listing of them."""
    import uvicorn

    images = make_jpegs(count, width, height)
    base = f"http://127.0.0.1:{port}"

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        status, body, kind = 404, b"", b"text/plain"
        if path.startswith("/img/") and path.endswith(".jpg"):
            index = int(path[5:-4])
            if 0 <= index < count:
                status, body, kind = 200, images[index], b"image/jpeg"
        elif path == "/v7.0/images/search":
            from urllib.parse import parse_qs

            query = parse_qs(scope["query_string"].decode())
            offset, size = int(query["offset"][0]), int(query["count"][0])
            value = [
                {
                    "contentUrl": f"{base}/img/{i}.jpg",
                    "hostPageUrl": f"{base}/page/{i}",
                    "thumbnailUrl": "",
                    "name": f"image {i}",
                    "width": width,
                    "height": height,
                }
                for i in range(offset, min(offset + size, count))
            ]
            payload = {"_type": "Images", "value": value, "nextOffset": offset + len(value)}
            status, body, kind = 200, json.dumps(payload).encode(), b"application/json"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def child_cpu() -> float:
    """User + system CPU seconds of finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("benchmark server did not start")


def ensure_img2dataset(venv: Path) -> Path:
    """The img2dataset executable, installing it into its own venv if needed."""
    exe = venv / "bin" / "img2dataset"
    if not exe.exists():
        print(f"installing img2dataset into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "img2dataset"], check=True)
    return exe


def run_nolabel(port: int, count: int, concurrency: int, work: Path) -> dict:
    home = work / f"nolabel-home-{time.monotonic_ns()}"
    per_page = 100
    params = {
        "dataset": "bench",
        "provider": "bing",
        "positive": ["bench"],
        "pages": -(-count // per_page),
        "per_page": per_page,
        "base_url": f"http://127.0.0.1:{port}",
        "api_rate": 1000.0,
        "allowed_networks": ["127.0.0.1/32"],
        "concurrency": concurrency,
        "per_host": concurrency,
        "progress": False,
        "timeout": 30,
        "retries": 0,
    }
    env = {
        **os.environ,
        "NOLABEL_HOME": str(home),
        "NOLABEL_BING_KEY": "bench",
        "PYTHONPATH": str(REPO),
    }
    started, cpu = time.perf_counter(), child_cpu()
    done = subprocess.run(
        [sys.executable, "-m", "nolabel.components.crawl", "run-json", json.dumps(params)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu = time.perf_counter() - started, child_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"nolabel crawl failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(home, ignore_errors=True)
    return {
        "images": result["counts"]["positive"],
        "wall_s": wall,
        "cpu_s": cpu,
        "internal_images_per_s": result["images_per_second"],
        "failures": result["failures"],
    }


def run_img2dataset(
    exe: Path, port: int, count: int, concurrency: int, work: Path, resize: bool
) -> dict:
    urls = work / "urls.txt"
    urls.write_text("".join(f"http://127.0.0.1:{port}/img/{i}.jpg\n" for i in range(count)))
    out = work / f"img2dataset-out-{time.monotonic_ns()}"
    command = [
        str(exe),
        "--url_list",
        str(urls),
        "--input_format",
        "txt",
        "--output_folder",
        str(out),
        "--output_format",
        "files",
        "--processes_count",
        "1",
        "--thread_count",
        str(concurrency),
        "--number_sample_per_shard",
        str(count),
        "--timeout",
        "30",
        "--retries",
        "0",
        "--distributor",
        "multiprocessing",
        "--enable_wandb",
        "False",
    ]
    if resize:  # decode + resize + re-encode, closer to nolabel's per-image work
        command += ["--resize_mode", "keep_ratio", "--image_size", "96", "--encode_quality", "92"]
    else:
        command += ["--resize_mode", "no"]
    started, cpu = time.perf_counter(), child_cpu()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - started, child_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"img2dataset failed: {done.stderr[-2000:]}")
    stored = len(list(out.rglob("*.jpg")))
    shutil.rmtree(out, ignore_errors=True)
    return {"images": stored, "wall_s": wall, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size", default="128x96", help="WxH of the served JPEGs")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--img2dataset-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.serve is not None:
        serve(args.serve, args.images, width, height)
        return
    exe = ensure_img2dataset(args.img2dataset_venv)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            str(port),
            "--images",
            str(args.images),
            "--size",
            args.size,
        ],
    )
    runs: dict[str, list[dict]] = {"nolabel": [], "img2dataset": [], "img2dataset_resize": []}
    try:
        wait_for(port)
        with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp:
            work = Path(tmp)
            for repeat in range(args.repeats):
                order = ["nolabel", "img2dataset", "img2dataset_resize"]
                for name in order if repeat % 2 == 0 else order[::-1]:
                    if name == "nolabel":
                        figures = run_nolabel(port, args.images, args.concurrency, work)
                    else:
                        figures = run_img2dataset(
                            exe,
                            port,
                            args.images,
                            args.concurrency,
                            work,
                            resize=name.endswith("resize"),
                        )
                    figures["images_per_s"] = figures["images"] / figures["wall_s"]
                    runs[name].append(figures)
                    print(
                        f"{name:20s} run {repeat + 1}: {figures['images']} images in "
                        f"{figures['wall_s']:.2f} s = {figures['images_per_s']:.1f} img/s",
                        file=sys.stderr,
                    )
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = {name: statistics.median(r["images_per_s"] for r in rs) for name, rs in runs.items()}
    print(
        f"\nimages={args.images} concurrency={args.concurrency} size={args.size} "
        f"repeats={args.repeats} (median images/s, end to end incl. interpreter start)"
    )
    for name, value in summary.items():
        cpu_ms = statistics.median(r["cpu_s"] / max(r["images"], 1) for r in runs[name]) * 1000
        print(f"  {name:20s} {value:8.1f} img/s   {cpu_ms:5.2f} CPU ms/image")
    ratio = summary["nolabel"] / summary["img2dataset"]
    print(f"  ratio nolabel / img2dataset (no resize) = {ratio:.2f}")
    print(
        f"  ratio nolabel / img2dataset (resize)    = "
        f"{summary['nolabel'] / summary['img2dataset_resize']:.2f}"
    )
    print(
        json.dumps(
            {
                "images": args.images,
                "concurrency": args.concurrency,
                "images_per_second": summary,
                "ratio": round(ratio, 3),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
