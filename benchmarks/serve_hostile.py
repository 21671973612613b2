"""Hostile clients against a real uvicorn on loopback: memory of pixel bombs, slow and idle clients.

    .venv/bin/python benchmarks/serve_hostile.py [--cap 40]

Memory (server RSS from /proc, sampled every 20 ms): before, peak and 3 s after (a) one
``/v1/predict/batch`` of 16 mostly-black 7000x7000 PNGs (2.3 MB on the wire), (b) 8 concurrent
``/v1/predict`` of one such PNG each. Connections: how long the server holds an idle connection,
20 connections sending a header line a second, a body dribbled over 30 s, a body declared 1000
bytes with 10 sent; the answer to an 8 MB header and to 10,000 headers. Every wait is capped at
``--cap`` seconds ("held >= cap" means the server never let go). Models as in serve_latency.py
(registered ones in NOLABEL_HOME, else trained here).
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples a process's RSS in a thread while the ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def black_png(side: int = 7000) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side))
    ImageDraw.Draw(image).rectangle(
        (side // 3, side // 3, side // 2, side // 2), fill=(200, 90, 40)
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def memory_probe(name: str, pid: int, call) -> dict:
    before = rss_mb(pid)
    started = time.perf_counter()
    with PeakRss(pid) as peak:
        statuses = call()
    seconds = time.perf_counter() - started
    time.sleep(3)
    return {
        "probe": name,
        "statuses": statuses,
        "seconds": round(seconds, 1),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(peak.peak),
        "rss_after_mb": round(rss_mb(pid)),
    }


def held(port: int, chunks: list[bytes], pause: float, cap: float) -> tuple[float, str]:
    """Send ``chunks`` ``pause`` s apart (after the server closes, stop); seconds until the
    server closed (capped) and the status line it sent, if any."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.05)
        answer = b""
        next_send, index = started, 0
        while time.monotonic() - started < cap:
            if index < len(chunks) and time.monotonic() >= next_send:
                try:
                    sock.sendall(chunks[index])
                except OSError:
                    break
                index, next_send = index + 1, time.monotonic() + pause
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            answer += data
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") if answer else "closed"
    return round(time.monotonic() - started, 1), status


def connection_probes(port: int, cap: float) -> list[dict]:
    head = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
    rows = [{"probe": "idle connection", **_held(port, [], 1, cap)}]
    lines = [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Slow-%d: a\r\n" % i for i in range(int(cap) + 5)]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: held(port, lines, 1.0, cap), range(20)))
    rows.append(
        {
            "probe": "20 clients, a header line a second",
            "held_s": max(r[0] for r in results),
            "status": sorted({r[1] for r in results}),
        }
    )
    body = [head + b"Content-Length: 30\r\n\r\n"] + [b"x"] * 30
    rows.append({"probe": "body dribbled over 30 s", **_held(port, body, 1.0, cap)})
    short = [head + b"Content-Length: 1000\r\n\r\n" + b"\xff\xd8\xff" + b"0" * 7]
    rows.append({"probe": "declares 1000 bytes, sends 10", **_held(port, short, 1, cap)})
    big = [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8_000_000 + b"\r\n\r\n"]
    rows.append({"probe": "8 MB header", **_held(port, big, 1, cap)})
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
    rows.append(
        {
            "probe": "10,000 headers",
            **_held(port, [b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"], 1, cap),
        }
    )
    return rows


def _held(port: int, chunks: list[bytes], pause: float, cap: float) -> dict:
    seconds, status = held(port, chunks, pause, cap)
    return {"held_s": seconds, "status": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=40.0, help="Longest wait per probe (s).")
    parser.add_argument("--classifier", help="Classifier URI (default: registry or train).")
    parser.add_argument("--detector", help="Detector URI (default: registry or train).")
    parser.add_argument("--train-images", type=int, default=40)
    parser.add_argument("--detector-images", type=int, default=16)
    args = parser.parse_args()
    sys.path[:0] = [str(REPO), str(Path(__file__).parent)]
    import httpx
    from serve_latency import prepare_models, start_server

    from tests.conftest import free_port

    env = prepare_models(args)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="serve-hostile-"))
    server = start_server(env, port, work / "server.log")
    png = black_png()
    url = f"http://127.0.0.1:{port}"
    try:
        client = httpx.Client(base_url=url, timeout=600)
        warm = io.BytesIO()
        from PIL import Image

        Image.new("RGB", (448, 336), (90, 120, 60)).save(warm, format="JPEG")
        for _ in range(3):  # the first requests load lazy parts: measure after them
            client.post(
                "/v1/predict", content=warm.getvalue(), headers={"Content-Type": "image/jpeg"}
            )
        files = [("files", (f"{i}.png", png, "image/png")) for i in range(16)]
        rows = [
            memory_probe(
                "batch of 16 7000x7000 PNGs",
                server.pid,
                lambda: [client.post("/v1/predict/batch", files=files).status_code],
            )
        ]

        def one(_: int) -> int:
            with httpx.Client(base_url=url, timeout=600) as own:
                headers = {"Content-Type": "image/png"}
                return own.post("/v1/predict", content=png, headers=headers).status_code

        def eight() -> list[int]:
            with ThreadPoolExecutor(8) as pool:
                return sorted(pool.map(one, range(8)))

        rows.append(memory_probe("8 concurrent single PNGs", server.pid, eight))
        rows.extend(connection_probes(port, args.cap))
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"PNG on the wire: {len(png) / 1e3:.0f} kB each")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
