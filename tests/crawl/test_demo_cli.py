"""Demo images, the folder provider end to end, the CLI and the S3 store backend."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.cli import new_app, run_app
from nolabel.components.common.coco import load_coco
from nolabel.components.common.datasets import read_manifest, read_parquet
from nolabel.components.common.store import open_store
from nolabel.components.crawl.cli import register
from nolabel.components.crawl.demo_render import render
from nolabel.components.crawl.step import CrawlParams, run
from tests.crawl.servers import jpeg_bytes


def test_demo_render_deterministic_with_spotted_animal_inside_box() -> None:
    image, box = render(True, 7, 256, 192)
    again, box_again = render(True, 7, 256, 192)
    assert image.shape == (192, 256, 3) and image.dtype == np.uint8
    assert np.array_equal(image, again) and box == box_again
    x, y, w, h = box
    assert x >= 0 and y >= 0 and x + w <= 256 and y + h <= 192 and w * h > 500
    dark_in_box = []
    for seed in range(12):
        image, (x, y, w, h) = render(True, seed)
        crop = image[int(y) : int(y + h), int(x) : int(x + w)].mean(axis=2)
        dark_in_box.append((crop < 70).mean())
    assert min(dark_in_box) > 0.03  # the rosettes are there
    negative, none = render(False, 7)
    assert none is None and not np.array_equal(negative, image)


def _app():
    app = new_app("test")
    register(app)
    return app


def test_cli_demo_crawl_writes_dataset_and_truth(capsys) -> None:
    argv = [
        "crawl",
        "--dataset",
        "demo",
        "--provider",
        "demo",
        "--positive",
        "leopard",
        "--random-negatives",
        "3",
        "--pages",
        "2",
        "--per-page",
        "4",
        "--negative-per-query",
        "2",
        "--resize",
        "128",
        "--no-progress",
    ]
    with pytest.raises(SystemExit) as exited:
        run_app(_app(), argv)
    assert exited.value.code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["counts"] == {"positive": 8, "negative": 6}
    store = open_store()
    manifest = read_manifest(store, "demo")
    assert set(manifest["label"]) == {"positive", "negative"}
    assert (manifest[["width", "height"]].max(axis=1) == 128).all()  # resized long side
    assert set(manifest.loc[manifest["label"] == "negative", "query"]).isdisjoint({"leopard"})
    truth_path = store.get_local_path("datasets/demo/truth.coco.json", store.root / "..")
    coco = load_coco(truth_path)
    names = {img["file_name"] for img in coco["images"]}
    assert names == {f"{sha}.jpg" for sha in manifest["sha256"]}
    assert len(coco["annotations"]) == 8 and coco["categories"][0]["name"] == "leopard"
    for ann in coco["annotations"]:
        image = next(i for i in coco["images"] if i["id"] == ann["image_id"])
        x, y, w, h = ann["bbox"]
        assert x + w <= image["width"] + 0.5 and y + h <= image["height"] + 0.5


def test_cli_bad_input_is_one_error_line(capsys) -> None:
    for argv in (
        ["crawl", "--dataset", "bad name!", "--positive", "x"],
        ["crawl", "--dataset", "d", "--provider", "folder", "--positive", "x"],
        [
            "crawl",
            "--dataset",
            "d",
            "--positive",
            "x",
            "--negative",
            "y",
            "--random-negatives",
            "2",
        ],
        ["crawl", "--dataset", "d", "--provider", "nope", "--positive", "x"],
    ):
        with pytest.raises(SystemExit) as exited:
            run_app(_app(), argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error:")


def test_folder_provider_crawl(tmp_path) -> None:
    for folder, seeds in (("lion-train", range(6)), ("random", range(100, 105))):
        (tmp_path / folder).mkdir()
        for seed in seeds:
            (tmp_path / folder / f"{seed}.jpg").write_bytes(jpeg_bytes(seed, (80, 60)))
    (tmp_path / "random" / "notes.txt").write_text("not an image")
    (tmp_path / "random" / "broken.jpg").write_bytes(b"GIF89a" + b"\0" * 10)
    (tmp_path / "random" / "100.jpg.json").write_text('{"licence": "CC0 1.0"}')
    params = CrawlParams(
        dataset="folders",
        provider="folder",
        positive=["lion-train"],
        negative=["random"],
        per_page=4,
        pages=2,
        negative_per_query=10,
        folder_root=str(tmp_path),
        progress=False,
    )
    result = run(params)
    assert result.counts == {"positive": 6, "negative": 5}
    assert result.failures == {"undecodable": 1}
    manifest = read_manifest(open_store(), "folders")
    assert manifest.loc[manifest["rank"] == 0].shape[0] == 2
    licences = dict(zip(manifest["source_url"], manifest["licence"], strict=True))
    assert licences[(tmp_path / "random" / "100.jpg").as_uri()] == "CC0 1.0"


def test_crawl_into_s3_store(s3_bucket: str) -> None:
    params = CrawlParams(
        dataset="s3demo",
        provider="demo",
        positive=["leopard"],
        negative=["rock"],
        per_page=3,
        progress=False,
    )
    result = run(params)
    assert result.dataset_uri == f"s3://{s3_bucket}/datasets/s3demo"
    assert result.manifest_uri == f"s3://{s3_bucket}/datasets/s3demo/manifest.parquet"
    store = open_store()
    manifest = read_manifest(store, "s3demo")
    assert len(manifest) == 6 and all(store.exists(key) for key in manifest["key"])
    image = Image.open(io.BytesIO(store.get_bytes(manifest["key"][0])))
    assert image.format == "JPEG"
    assert len(read_parquet(store, "datasets/s3demo/failures.parquet")) == 0
    assert store.exists("datasets/s3demo/truth.coco.json")
    again = run(params)
    assert again.downloaded == 0 and again.resumed == 6 and again.counts == result.counts
