"""Small step functions with the component shape (params model in, result model out).

They let the flow machinery (keys, reuse, retries, modes) be tested in seconds; the real steps
are exercised by the end-to-end test.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

CALLS: dict[str, int] = {}


class EchoParams(BaseModel):
    text: str
    times: int = Field(1, ge=1)


class EchoResult(BaseModel):
    text: str
    length: int


def echo(params: EchoParams) -> EchoResult:
    """Repeat the text; counts its calls in CALLS['echo']."""
    CALLS["echo"] = CALLS.get("echo", 0) + 1
    text = params.text * params.times
    return EchoResult(text=text, length=len(text))


class AnyParams(BaseModel):
    """Accepts the params the pipeline builds for a step, whatever they are."""

    model_config = {"extra": "allow"}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


def crawl(params: AnyParams) -> dict:
    """Writes a two-image dataset with true boxes, like the demo provider."""
    import json

    from components.common.store import open_store

    _count("crawl")
    store = open_store()
    name = params.model_dump()["dataset"]
    for sha in ("a1", "b2"):
        store.put_bytes(f"datasets/{name}/images/{sha}.jpg", b"\xff\xd8\xff fake jpeg")
    truth = {
        "images": [{"id": 1, "file_name": "a1.jpg", "width": 8, "height": 8}],
        "annotations": [],
        "categories": [{"id": 1, "name": "object"}],
    }
    store.put_bytes(f"datasets/{name}/truth.coco.json", json.dumps(truth).encode())
    return {"dataset": name, "counts": {"positive": 1, "negative": 1}, "failures": {}}


def train(params: AnyParams) -> dict:
    _count("train")
    return {
        "parent_run_id": None,
        "model_uri": "runs:/r1/model",
        "model_name": "nolabel-classifier",
        "model_version": None,
        "metrics": {"roc_auc": 0.75},
    }


def explain(params: AnyParams) -> dict:
    _count("explain")
    values = params.model_dump()
    assert values["model"] == "runs:/r1/model"
    return {
        "coco_path": values["out"],
        "coco_uri": f"file:///boxes-{values['num_samples']}.coco.json",
        "boxes": 1,
        "metrics": {"mean_iou": 0.5},
        "run_id": None,
    }


def detect(params: AnyParams) -> dict:
    _count("detect")
    epochs = params.model_dump()["epochs"]
    return {
        "run_id": None,
        "model_uri": f"runs:/r2-{epochs}/model",
        "model_name": "nolabel-detector",
        "model_version": None,
        "metrics": {"ap50": 0.4},
    }


def evaluate(params: AnyParams) -> dict:
    _count("evaluate")
    values = params.model_dump()
    assert values["model"].startswith("runs:/r2-") and values["images"].endswith("images")
    return {"metrics": {"ap50": 0.3}}
