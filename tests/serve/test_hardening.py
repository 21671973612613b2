"""Bad input never reaches a 500: types, magic bytes, size and pixel caps, auth, IDs, CORS."""

from __future__ import annotations

import hmac
import io
import json
import logging
import threading
import time

import pytest
from PIL import Image

from nolabel.components.serve.middleware import JsonFormatter
from tests.serve.conftest import RednessClassifier, fake_loaders, image_bytes

ENDPOINTS = ("/v1/predict", "/v1/classify", "/v1/explain", "/v1/predict/batch")


def post_raw(client, data: bytes, content_type: str | None, path: str = "/v1/predict"):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(path, content=data, headers=headers)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def truncated_jpeg() -> bytes:
    data = image_bytes(256, 256)
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    data = bytearray(image_bytes(64, 64, fmt="PNG"))
    data[40:-20] = b"\x00" * (len(data) - 60)
    return bytes(data)


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/classify", "/v1/explain"])
@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"", "image/jpeg", 400, "empty"),
        (b"hello, world", "image/jpeg", 415, "not_an_image"),
        (b"<html></html>", "application/octet-stream", 415, "not_an_image"),
        (b"\xff\xd8\xff" + b"\x00" * 64, "image/jpeg", 400, "undecodable"),
        (None, "image/jpeg", 400, "undecodable"),  # truncated JPEG
        ("corrupt_png", "image/png", 400, "undecodable"),
        ("jpeg", "text/plain", 415, "unsupported_media_type"),
        ("jpeg", "application/json", 415, "unsupported_media_type"),
        ("jpeg", None, 415, "unsupported_media_type"),
        ("jpeg", "image/png", 415, "content_type_mismatch"),
    ],
)
def test_bad_raw_bodies_get_clear_4xx(client, path, data, content_type, status, code):
    if data is None:
        data = truncated_jpeg()
    elif data == "corrupt_png":
        data = corrupt_png()
    elif data == "jpeg":
        data = image_bytes()
    assert_error(post_raw(client, data, content_type, path), status, code)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_bad_multipart_uploads_get_clear_4xx(client, path):
    field = "files" if path.endswith("batch") else "file"
    cases = [
        ((field, ("a.jpg", b"", "image/jpeg")), 400, "empty"),
        ((field, ("a.jpg", b"GIF89a-not-really", "image/gif")), 400, "undecodable"),
        ((field, ("a.txt", b"just text", "text/plain")), 415, "unsupported_media_type"),
        ((field, ("a.png", image_bytes(), "image/png")), 415, "content_type_mismatch"),
        ((field, ("a.jpg", truncated_jpeg(), "image/jpeg")), 400, "undecodable"),
        (("other", ("a.jpg", image_bytes(), "image/jpeg")), 422, "invalid_request"),
    ]
    for part, status, code in cases:
        body = assert_error(client.post(path, files=[part]), status, code)
        if code in ("empty", "undecodable"):
            assert "'a.jpg'" in body["detail"]
    text_field = client.post(path, data={field: "not a file"}, files=[("x", ("x", b"1"))])
    assert_error(text_field, 422, "invalid_request")


def test_one_bad_file_fails_the_batch_and_names_it(client):
    files = [
        ("files", ("good.jpg", image_bytes(), "image/jpeg")),
        ("files", ("bad.jpg", b"\xff\xd8\xffjunk", "image/jpeg")),
    ]
    body = assert_error(client.post("/v1/predict/batch", files=files), 400, "undecodable")
    assert "bad.jpg" in body["detail"]


def test_pixel_cap_refuses_large_images_and_bombs(make_client):
    client = make_client(max_image_pixels=64 * 48 - 1)
    assert_error(post_raw(client, image_bytes(64, 48), "image/jpeg"), 413, "too_many_pixels")
    assert post_raw(client, image_bytes(32, 32), "image/jpeg").status_code == 200
    # A decompression bomb: 10000×10000 pixels in a few kilobytes of PNG.
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000
    default = make_client()
    body = assert_error(post_raw(default, buffer.getvalue(), "image/png"), 413, "too_many_pixels")
    assert "10000x10000" in body["detail"]


def test_body_size_cap_by_content_length_and_while_streaming(make_client):
    data = image_bytes(128, 128, fmt="PNG")
    client = make_client(max_upload_bytes=len(data) - 1)
    assert_error(post_raw(client, data, "image/png"), 413, "too_large")

    def chunks():
        for start in range(0, len(data), 256):
            yield data[start : start + 256]

    streamed = client.post("/v1/predict", content=chunks(), headers={"Content-Type": "image/png"})
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert_error(streamed, 413, "too_large")
    multipart = client.post("/v1/predict", files={"file": ("a.png", data, "image/png")})
    assert_error(multipart, 413, "too_large")
    small = make_client(max_upload_bytes=len(data) + 1000)
    assert post_raw(small, data, "image/png").status_code == 200


def test_unknown_routes_methods_and_parameters_get_json_errors(client):
    assert_error(client.get("/v2/predict"), 404, "not_found")
    assert_error(client.get("/v1/predict"), 405, "method_not_allowed")
    bad_query = client.post(
        "/v1/predict?min_score=2", content=image_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    body = assert_error(bad_query, 422, "invalid_request")
    assert "min_score" in body["detail"]


def test_bearer_token_is_required_and_compared_in_constant_time(make_client, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    client = make_client(api_token="s3cret-token")
    data, jpeg = image_bytes(), {"Content-Type": "image/jpeg"}
    missing = client.post("/v1/classify", content=data, headers=jpeg)
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/v1/classify", content=data, headers={**jpeg, "Authorization": "Bearer x"})
    assert_error(wrong, 401, "unauthorized")
    assert_error(
        client.get("/v1/models", headers={"Authorization": "Basic abc"}), 401, "unauthorized"
    )
    ok = client.post(
        "/v1/classify", content=data, headers={**jpeg, "Authorization": "Bearer s3cret-token"}
    )
    assert ok.status_code == 200
    assert (b"s3cret-token", b"s3cret-token") in compared
    # Probes and metrics stay open for the orchestrator and Prometheus.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200


def test_request_ids_are_echoed_or_generated(client):
    given = client.get("/healthz", headers={"X-Request-ID": "trace-123.abc"})
    assert given.headers["x-request-id"] == "trace-123.abc"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces" * 20})
    generated = unsafe.headers["x-request-id"]
    assert len(generated) == 32 and generated != client.get("/healthz").headers["x-request-id"]
    error = post_raw(client, b"x", "text/plain", "/v1/classify")
    assert error.json()["request_id"] == error.headers["x-request-id"]


def test_access_log_is_one_json_object_per_request(client):
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter().format(record))

    handler = Collect()
    logger = logging.getLogger("nolabel.serve.access")
    logger.addHandler(handler)
    try:
        headers = {"X-Request-ID": "abc-1", "Content-Type": "image/jpeg"}
        client.post("/v1/classify", content=image_bytes(), headers=headers)
    finally:
        logger.removeHandler(handler)
    (line,) = records
    entry = json.loads(line)
    assert entry["request_id"] == "abc-1"
    assert entry["method"] == "POST" and entry["route"] == "/v1/classify"
    assert entry["status"] == 200 and entry["duration_ms"] > 0
    assert entry["bytes_in"] == len(image_bytes())


def test_inference_runs_off_the_event_loop(make_client):
    slow = RednessClassifier("9", delay=1.5)
    loaders = {**fake_loaders(), "classifier": lambda uri: slow}
    client = make_client(loaders=loaders)
    done = threading.Event()

    def classify():
        post_raw(client, image_bytes(), "image/jpeg", "/v1/classify")
        done.set()

    worker = threading.Thread(target=classify)
    worker.start()
    deadline = time.monotonic() + 5
    while slow.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    assert time.perf_counter() - started < 0.75
    assert not done.is_set(), "health answered while the slow model was still running"
    worker.join()


def test_cors_is_off_by_default_and_configurable(make_client):
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    closed = make_client()
    assert (
        "access-control-allow-origin"
        not in closed.options("/v1/classify", headers=preflight).headers
    )
    assert "access-control-allow-origin" not in closed.get("/healthz", headers=preflight).headers
    opened = make_client(serve={"cors_origins": "https://ui.example, https://other.example"})
    response = opened.options("/v1/classify", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://ui.example"
    other = opened.options("/v1/classify", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
