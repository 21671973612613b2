"""A real uvicorn on 127.0.0.1 against hostile clients: extreme aspect ratios, pixel bombs in
small uploads, idle and slow clients, huge headers, clients that go away, and mixed batches."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.serve.real_models import Server, TrainedModels, generated_dataset, jpeg, running_server
from tests.serve.test_real_server import trained  # noqa: F401  (session fixture)

pytestmark = pytest.mark.slow
HEADER_TIMEOUT, BODY_TIMEOUT = 1.5, 2.0


@pytest.fixture(scope="module")
def hostile(
    trained: TrainedModels,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    if trained.detector_version is None:
        pytest.skip("MMDetection extra not installed: no detector to serve")
    env = {
        "NOLABEL_SERVE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "NOLABEL_SERVE_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "NOLABEL_SERVE_KEEP_ALIVE_TIMEOUT": "1",
        "NOLABEL_SERVE_MAX_REQUEST_PIXELS": "30000000",
        "NOLABEL_SERVE_MAX_HEADERS": "50",
    }
    log = tmp_path_factory.mktemp("hostile-log") / "server.log"
    with running_server(trained, log, env) as server:
        yield server


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def _raw(
    server: Server, payload: bytes, *, pause: float = 0.0, chunks: int = 1, head: bytes = b""
) -> bytes:
    """Send ``head`` at once, then ``payload`` in ``chunks`` pieces ``pause`` s apart; all the
    server answers until it closes (b"" when it closes without a word)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        step = max(1, len(payload) // chunks)
        try:
            sock.sendall(head)
            for start in range(0, len(payload), step):
                sock.sendall(payload[start : start + step])
                time.sleep(pause)
        except OSError:
            pass  # closed on us mid-send: read what it said
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return received
            if not data:
                return received
            received += data


def test_an_elongated_image_is_scored_and_the_connection_lives_on(hostile):
    strip = io.BytesIO()
    Image.new("RGB", (10000, 1), (90, 90, 90)).save(strip, format="JPEG")
    for _ in range(2):  # the same kept-alive connection, twice
        response = hostile.http.post(
            "/v1/predict", content=strip.getvalue(), headers={"Content-Type": "image/jpeg"}
        )
        assert response.status_code == 200, response.text
        assert (response.json()["width"], response.json()["height"]) == (10000, 1)
    assert hostile.http.get("/healthz").status_code == 200


def test_an_image_gets_the_same_boxes_alone_and_in_a_mixed_batch(hostile):
    images, _ = generated_dataset(4, seed=7)
    shapes = [(64, 64), (150, 48), (200, 64), (90, 90)]
    uploads = [
        jpeg(np.asarray(Image.fromarray(image).resize(shape)))
        for image, shape in zip(images, shapes, strict=True)
    ]
    alone = []
    for data in uploads:
        response = hostile.http.post(
            "/v1/predict?boxes_on_empty=true",
            content=data,
            headers={"Content-Type": "image/jpeg"},
        )
        assert response.status_code == 200, response.text
        alone.append(response.json()["boxes"])
    batch = hostile.http.post(
        "/v1/predict/batch?boxes_on_empty=true",
        files=[("files", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(uploads)],
    )
    assert batch.status_code == 200, batch.text
    assert [r["boxes"] for r in batch.json()["results"]] == alone


def test_pixel_budget_per_request_and_pillows_own_limit_give_413(hostile):
    many = [("files", (f"{i}.png", _png(4000, 3000, "L"), "image/png")) for i in range(4)]
    response = hostile.http.post("/v1/predict/batch", files=many)
    assert response.status_code == 413 and response.json()["code"] == "too_many_pixels"
    one = hostile.http.post(
        "/v1/predict", content=_png(4000, 3000, "L"), headers={"Content-Type": "image/png"}
    )
    assert one.status_code == 200, one.text
    bomb = hostile.http.post(
        "/v1/classify", content=_png(20000, 10000, "1"), headers={"Content-Type": "image/png"}
    )
    assert bomb.status_code == 413 and bomb.json()["code"] == "too_many_pixels"


def test_idle_slow_header_and_slow_body_clients_are_cut_off(hostile):
    started = time.monotonic()
    assert _raw(hostile, b"") == b""  # says nothing: closed without a word
    assert time.monotonic() - started < HEADER_TIMEOUT + 3

    started = time.monotonic()
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40 + b"\r\n\r\n"
    answer = _raw(hostile, head, pause=0.25, chunks=40)  # a header line dribbled over 10 s
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEADER_TIMEOUT + 3

    started = time.monotonic()
    body = (
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 1000\r\n\r\n" + b"\xff\xd8\xff" + b"0" * 7
    )
    answer = _raw(hostile, body)  # declares 1000 bytes, sends 10
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEADER_TIMEOUT + BODY_TIMEOUT + 3

    started = time.monotonic()
    head = (
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 30\r\n\r\n"
    )
    answer = _raw(hostile, b"x" * 30, pause=0.25, chunks=30, head=head)  # 7.5 s of dribbling
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEADER_TIMEOUT + BODY_TIMEOUT + 3


def test_header_limits(hostile):
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    assert _raw(hostile, huge).startswith(b"HTTP/1.1 400")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    answer = _raw(hostile, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_client_that_goes_away_is_no_server_error(hostile):
    payload = (
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 100000\r\n\r\n" + b"\xff\xd8\xff" * 100
    )
    with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
        sock.sendall(payload)
        time.sleep(0.3)
    time.sleep(0.5)
    metrics = hostile.http.get("/metrics").text
    assert not [line for line in metrics.splitlines() if 'status="5' in line]
    log = hostile.log.read_text()
    assert "Traceback" not in log and "unhandled error" not in log
    gone = [json.loads(line) for line in log.splitlines() if "client disconnected" in line]
    assert gone, log[-2000:]
