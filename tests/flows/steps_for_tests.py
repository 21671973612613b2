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


# Set by a test to register real MLflow model versions with these held-out qualities.
QUALITY: dict[str, float] = {}
EVALUATION: dict[str, float] = {}  # detector model URI -> quality on the true boxes


def _register(
    name: str, step: str, metrics: dict[str, float]
) -> tuple[str, str | None, str | None]:
    """(model URI, version, run id): a registered version when QUALITY is set, else a fake."""
    if not QUALITY:
        return f"runs:/{step}-{CALLS[step]}/model", None, None
    import mlflow

    from components.common import tracking

    tracking.configure()
    client = mlflow.MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    with tracking.start_run(name) as run:
        tracking.log_metrics({f"best_{k}": v for k, v in metrics.items()})
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    return f"models:/{name}/{version.version}", str(version.version), run.info.run_id


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
    truth_uri = store.put_bytes(f"datasets/{name}/truth.coco.json", json.dumps(truth).encode())
    return {
        "dataset": name,
        "truth_uri": truth_uri,
        "counts": {"positive": 1, "negative": 1},
        "failures": {},
    }


def train(params: AnyParams) -> dict:
    _count("train")
    metrics = {"roc_auc": QUALITY.get("classifier", 0.75)}
    uri, version, run_id = _register("nolabel-classifier", "train", metrics)
    return {
        "parent_run_id": run_id,
        "model_uri": uri,
        "model_name": "nolabel-classifier",
        "model_version": version,
        "metrics": metrics,
    }


def explain(params: AnyParams) -> dict:
    _count("explain")
    values = params.model_dump()
    assert values["model"].startswith(("runs:/train-", "models:/nolabel-classifier/"))
    return {
        "coco_path": values["out"],
        "coco_uri": f"file:///boxes-{values['num_samples']}-{values['model']}.coco.json",
        "boxes": 1,
        "metrics": {"mean_iou": 0.5},
        "run_id": None,
    }


def detect(params: AnyParams) -> dict:
    _count("detect")
    assert params.model_dump()["boxes"].startswith("file:///boxes-")
    metrics = {"val_ap50": 0.4}
    uri, version, run_id = _register("nolabel-detector", "detect", metrics)
    EVALUATION[uri] = QUALITY.get("detector", 0.3)
    return {
        "run_id": run_id,
        "model_uri": uri,
        "model_name": "nolabel-detector",
        "model_version": version,
        "metrics": metrics,
    }


def evaluate(params: AnyParams) -> dict:
    _count("evaluate")
    values = params.model_dump()
    assert values["gt"].endswith("truth.coco.json") and values["images"].endswith("/images")
    return {"model_uri": values["model"], "metrics": {"gt_ap50": EVALUATION[values["model"]]}}
