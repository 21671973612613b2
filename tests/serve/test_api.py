"""Every endpoint through TestClient, with small protocol-compatible models injected."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from nolabel.components.serve.models import CLASSIFIER, DETECTOR
from tests.serve.conftest import BrightBoxDetector, RednessClassifier, image_bytes


def test_healthz_is_ok_without_models(make_client, registry):
    registry.aliases.clear()
    client = make_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_readyz_reports_loaded_models(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["models"]["classifier"]["version"] == "3"
    assert body["models"]["detector"]["version"] == "7"


def test_readyz_is_503_until_models_exist(make_client, registry):
    registry.aliases.pop(("nolabel-detector", "candidate"))
    client = make_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert "no registered model 'nolabel-detector'" in body["models"]["detector"]["last_error"]
    # A classifier-only service is ready, and classify works while predict says why it cannot.
    assert (
        client.post(
            "/v1/classify", files={"file": ("a.jpg", image_bytes(), "image/jpeg")}
        ).status_code
        == 200
    )
    refused = client.post("/v1/predict", files={"file": ("a.jpg", image_bytes(), "image/jpeg")})
    assert refused.status_code == 503
    assert refused.json()["code"] == "not_ready"
    relaxed = make_client(serve={"require_detector": False})
    assert relaxed.get("/readyz").status_code == 200


def test_predict_multipart_returns_probability_and_boxes_in_original_pixels(client):
    data = image_bytes(200, 100, square=(40, 20, 120, 80))
    response = client.post("/v1/predict", files={"file": ("lion.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["width"] == 200 and body["height"] == 100
    assert body["filename"] == "lion.jpg"
    assert 0.0 <= body["probability"] <= 1.0
    assert body["is_positive"] == (body["probability"] >= body["threshold"])
    assert body["models"] == {
        "classifier": {"name": "nolabel-classifier", "version": "3"},
        "detector": {"name": "nolabel-detector", "version": "7"},
    }
    assert body["latency_ms"] > 0
    assert body["request_id"] == response.headers["x-request-id"]
    # The square is too small to make the whole image positive, but its crop is: the detector
    # and the proposal agree on it, so it is one sure box (the stray 0.1 box is not kept).
    assert not body["is_positive"] and body["verdict"] == "animal"
    (top,) = body["boxes"]
    assert top["label"] == "lion" and set(top["sources"]) == {"detector", "proposal"}
    assert top["crop_probability"] > body["probability"]
    assert top["score"] == pytest.approx(
        1 - (1 - top["sources"]["detector"]) * (1 - top["sources"]["proposal"]), abs=1e-3
    )
    assert body["animal_score"] == pytest.approx(top["score"]) and body["others"] == []
    # The red square (JPEG edges blur by a pixel or two): the proposal draws the box.
    assert top["x1"] == pytest.approx(40, abs=3) and top["x2"] == pytest.approx(120, abs=3)
    assert top["y1"] == pytest.approx(20, abs=3) and top["y2"] == pytest.approx(80, abs=3)


def test_predict_gives_no_box_where_the_evidence_is_weak(client):
    grey = client.post("/v1/predict", content=image_bytes(200, 100, square=(0, 0, 0, 0)),
                       headers={"Content-Type": "image/jpeg"}).json()  # fmt: skip
    assert not grey["is_positive"] and grey["verdict"] == "empty" and grey["boxes"] == []
    assert grey["animal_score"] == 0.0
    # A tiny red square: its crop is judged, but the evidence stays under the frame gate.
    faint = image_bytes(200, 100, square=(190, 90, 193, 93))
    weak = client.post("/v1/predict", content=faint, headers={"Content-Type": "image/jpeg"})
    body = weak.json()
    assert body["verdict"] != "animal" and body["boxes"] == [] and body["animal_score"] < 0.9
    shown = client.post(
        "/v1/predict?boxes_on_empty=true&frame_gate=1", content=image_bytes(200, 100),
        headers={"Content-Type": "image/jpeg"},
    ).json()  # fmt: skip
    assert shown["verdict"] != "animal" and shown["boxes"]


def test_predict_raw_body_and_box_filters(client):
    data = image_bytes(64, 64, fmt="PNG", square=(8, 8, 56, 56))
    response = client.post(
        "/v1/predict?min_score=0.5", content=data, headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text
    assert [set(b["sources"]) for b in response.json()["boxes"]] == [{"detector", "proposal"}]
    # The same image under a gate no box reaches: no animal image, no box.
    gated = client.post(
        "/v1/predict?min_score=0&frame_gate=1", content=data, headers={"Content-Type": "image/png"}
    )
    assert gated.status_code == 200 and gated.json()["boxes"] == []
    none = client.post(
        "/v1/predict?max_boxes=0",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert none.status_code == 200 and none.json()["boxes"] == []


def test_red_image_is_more_positive_than_grey(client):
    red = client.post("/v1/classify", content=image_bytes(square=(0, 0, 64, 48)),
                      headers={"Content-Type": "image/jpeg"}).json()  # fmt: skip
    grey = client.post("/v1/classify", content=image_bytes(square=(0, 0, 0, 0)),
                       headers={"Content-Type": "image/jpeg"}).json()  # fmt: skip
    assert red["probability"] > 0.8 > 0.4 > grey["probability"]
    assert red["is_positive"] and not grey["is_positive"]
    assert red["model"] == {"name": "nolabel-classifier", "version": "3"}
    assert red["width"] == 64 and red["height"] == 48


def test_batch_predicts_each_file_in_order(client):
    files = [
        ("files", ("red.jpg", image_bytes(square=(0, 0, 64, 48)), "image/jpeg")),
        ("files", ("grey.png", image_bytes(30, 20, fmt="PNG", square=(0, 0, 0, 0)), "image/png")),
        ("files", ("small.jpg", image_bytes(16, 16), "image/jpeg")),
    ]
    response = client.post("/v1/predict/batch", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["red.jpg", "grey.png", "small.jpg"]
    assert [(r["width"], r["height"]) for r in results] == [(64, 48), (30, 20), (16, 16)]
    assert results[0]["probability"] > results[1]["probability"]
    assert results[1]["boxes"] == []  # uniform grey: nothing brighter than average


def test_batch_refuses_more_files_than_the_cap(make_client):
    client = make_client(serve={"max_batch_images": 2})
    files = [("files", (f"{i}.jpg", image_bytes(), "image/jpeg")) for i in range(3)]
    response = client.post("/v1/predict/batch", files=files)
    assert response.status_code == 400
    assert "too many files" in response.json()["detail"].lower()


def test_explain_returns_boxes_and_a_heatmap_png(client):
    data = image_bytes(96, 64, square=(10, 10, 50, 40))
    response = client.post(
        "/v1/explain?num_samples=40", files={"file": ("x.jpg", data, "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["num_samples"] == 40
    assert body["boxes"], "LIME should box the red square"
    top = body["boxes"][0]
    # The box lies inside the image and overlaps the red square.
    assert 0 <= top["x1"] < top["x2"] <= 96 and 0 <= top["y1"] < top["y2"] <= 64
    assert top["x1"] < 50 and top["x2"] > 10 and top["y1"] < 40 and top["y2"] > 10
    png = base64.b64decode(body["heatmap_png_base64"])
    with Image.open(io.BytesIO(png)) as heatmap:
        assert heatmap.format == "PNG"
        assert heatmap.size == (body["heatmap_width"], body["heatmap_height"])


def test_explain_bounds_samples_and_size(make_client):
    client = make_client(serve={"explain_max_samples": 50})
    data = image_bytes()
    too_many = client.post("/v1/explain?num_samples=60", content=data,
                           headers={"Content-Type": "image/jpeg"})  # fmt: skip
    assert too_many.status_code == 422
    assert "at most 50" in too_many.json()["detail"]
    tiny = client.post("/v1/explain", content=image_bytes(8, 8),
                       headers={"Content-Type": "image/jpeg"})  # fmt: skip
    assert tiny.status_code == 422
    assert tiny.json()["code"] == "image_too_small"


def test_models_lists_versions_and_refresh_swaps(client, registry):
    body = client.get("/v1/models").json()
    assert body["alias"] == "production"
    assert body["models"]["classifier"]["uri"] == "models:/nolabel-classifier/3"
    assert body["models"]["detector"]["uri"] == "models:/nolabel-detector/7"
    registry.aliases[("nolabel-classifier", "production")] = "4"
    refreshed = client.post("/v1/models/refresh").json()
    assert refreshed["models"]["classifier"]["version"] == "4"
    assert refreshed["models"]["classifier"]["swaps"] == 2


def test_metrics_expose_counts_latency_and_model_versions(client):
    client.post("/v1/classify", content=image_bytes(), headers={"Content-Type": "image/jpeg"})
    client.post("/v1/classify", content=b"nope", headers={"Content-Type": "image/jpeg"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'nolabel_http_requests_total{method="POST",route="/v1/classify",status="200"} 1.0' in text
    )
    assert (
        'nolabel_http_requests_total{method="POST",route="/v1/classify",status="415"} 1.0' in text
    )
    assert (
        'nolabel_http_request_duration_seconds_count{method="POST",route="/v1/classify"} 2.0'
        in text
    )
    assert 'nolabel_model_info{kind="classifier",name="nolabel-classifier"' in text
    assert 'version="3"' in text and 'version="7"' in text
    assert 'nolabel_inference_duration_seconds_count{kind="classifier"} 1.0' in text
    assert 'nolabel_model_loaded{kind="detector"} 1.0' in text


def test_two_apps_in_one_process_keep_separate_metrics(make_client):
    first, second = make_client(), make_client()
    first.get("/healthz")
    assert 'route="/healthz"' in first.get("/metrics").text
    assert 'route="/healthz"' not in second.get("/metrics").text


def test_openapi_documents_the_versioned_api(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/classify", "/v1/explain"):
        content = paths[path]["post"]["requestBody"]["content"]
        assert "multipart/form-data" in content
        assert "415" in paths[path]["post"]["responses"]
    assert "image/jpeg" in paths["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"/healthz", "/readyz", "/metrics", "/v1/models"} <= set(paths)
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("mode", "fmt", "content_type"),
    [
        ("L", "PNG", "image/png"),
        ("RGBA", "PNG", "image/png"),
        ("CMYK", "JPEG", "image/jpeg"),
        ("P", "GIF", "image/gif"),
        ("RGB", "BMP", "image/bmp"),
        ("RGB", "TIFF", "image/tiff"),
        ("RGB", "WEBP", "image/webp"),
    ],
)
def test_every_supported_format_and_colour_mode_is_accepted(client, mode, fmt, content_type):
    buffer = io.BytesIO()
    Image.new(mode, (40, 30)).save(buffer, format=fmt)
    response = client.post(
        "/v1/predict", content=buffer.getvalue(), headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["width"], response.json()["height"]) == (40, 30)


def test_exif_orientation_is_applied_before_prediction(client):
    image = Image.new("RGB", (60, 20), (200, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    response = client.post(
        "/v1/predict", files={"file": ("r.jpg", buffer.getvalue(), "image/jpeg")}
    )
    body = response.json()
    assert (body["width"], body["height"]) == (20, 60)
    for box in body["boxes"]:
        assert box["x2"] <= 20 and box["y2"] <= 60


def test_large_jpeg_is_decoded_reduced_and_boxes_come_back_in_full_pixels(make_client):
    """Models that look at 64 px get a libjpeg-reduced decode; boxes are scaled back up."""
    seen: list[tuple[int, ...]] = []

    class SizedClassifier(RednessClassifier):
        input_size = 48

        def predict_proba(self, images):
            seen.extend(np.asarray(image).shape for image in images)
            return super().predict_proba(images)

    class SizedDetector(BrightBoxDetector):
        image_size = 64

    loaders = {CLASSIFIER: lambda uri: SizedClassifier("3"), DETECTOR: lambda uri: SizedDetector()}
    client = make_client(loaders=loaders, serve={"proposals": False})
    data = image_bytes(1600, 1200, square=(400, 300, 800, 600))

    response = client.post(
        "/v1/predict?boxes_on_empty=true", content=data, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (1600, 1200)
    height, width, _ = seen[0]  # the whole frame (the crops of its boxes come after)
    assert min(height, width) >= 64 and width <= 800  # reduced, never below the detector's 64
    top = body["boxes"][0]
    tolerance = 3 * 1600 / width  # a few reduced pixels
    assert top["x1"] == pytest.approx(400, abs=tolerance) and top["x2"] == pytest.approx(
        800, abs=tolerance
    )
    assert top["y1"] == pytest.approx(300, abs=tolerance) and top["y2"] == pytest.approx(
        600, abs=tolerance
    )

    response = client.post("/v1/classify", content=data, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200 and response.json()["width"] == 1600
    assert min(seen[-1][:2]) >= 48 and seen[-1][1] <= 800
    png = image_bytes(400, 300, fmt="PNG")
    client.post("/v1/classify", content=png, headers={"Content-Type": "image/png"})
    assert seen[-1][:2] == (50, 67)  # other formats are reduced after decoding: 300 // 48 = 6
