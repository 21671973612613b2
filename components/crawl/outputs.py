"""Assemble the dataset files: manifest, failures and (demo) true boxes."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from nolabel.components.common.datasets import (
    MANIFEST_COLUMNS,
    NEGATIVE,
    POSITIVE,
    image_key,
    truth_key,
)
from nolabel.components.common.errors import InputError
from nolabel.components.common.store import ArtifactStore
from nolabel.components.crawl.dedupe import CONFLICT, DUPLICATE, NEAR_DUPLICATE, dedupe

FAILURE_COLUMNS = ("url", "reason", "label", "query", "provider", "rank", "detail")


def join_outcomes(hits: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Every hit with the outcome of its URL (status "" when the URL was never tried)."""
    outcome = records.drop_duplicates("url", keep="last")
    joined = hits.merge(outcome, left_on="image_url", right_on="url", how="left")
    joined["status"] = joined["status"].fillna("")
    joined["reason"] = joined["reason"].fillna("not_downloaded")
    return joined.sort_values("order", kind="stable").reset_index(drop=True)


def split_outcomes(
    dataset: str, joined: pd.DataFrame, near_distance: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """(manifest, failures, duplicate counts) from hits joined with their outcomes."""
    # The same URL found twice under one label is one image; under two labels, a conflict.
    ok = joined[joined["status"] == "ok"]
    kept, dropped = dedupe(ok, near_distance)
    failed = joined[joined["status"] != "ok"]
    manifest = pd.DataFrame(
        {
            "sha256": kept["sha256"],
            "key": [image_key(dataset, sha) for sha in kept["sha256"]],
            "label": kept["label"],
            "query": kept["query"],
            "provider": kept["provider"],
            "rank": kept["rank"].astype("int64"),
            "source_url": kept["image_url"],
            "page_url": kept["page_url"],
            "licence": kept["licence"],
            "attribution": kept["attribution"],
            "width": kept["width_y"].astype("int64"),
            "height": kept["height_y"].astype("int64"),
            "group": kept["group"].fillna(""),
        },
        columns=list(MANIFEST_COLUMNS),
    )
    manifest["title"] = kept["title"].to_numpy()
    manifest["thumbnail_url"] = kept["thumbnail_url"].to_numpy()
    manifest["phash"] = kept["phash"].to_numpy()
    manifest["truth"] = kept["truth"].fillna("").to_numpy()
    failures = pd.concat(
        [
            failed.assign(url=failed["image_url"]),
            dropped.assign(url=dropped["image_url"], detail=dropped["reason"]),
        ],
        ignore_index=True,
    )
    failures = failures.reindex(columns=list(FAILURE_COLUMNS)).fillna({"detail": ""})
    failures["rank"] = failures["rank"].astype("int64")
    counts = {
        "exact": int((dropped["reason"] == DUPLICATE).sum()) if len(dropped) else 0,
        "near": int((dropped["reason"] == NEAR_DUPLICATE).sum()) if len(dropped) else 0,
        "conflicts": int((dropped["reason"] == CONFLICT).sum()) if len(dropped) else 0,
    }
    return manifest.reset_index(drop=True), failures, counts


def require_images(
    dataset: str,
    labels: set[str],
    hits: pd.DataFrame,
    manifest: pd.DataFrame,
    failures: pd.DataFrame,
) -> None:
    """``InputError`` unless every label the plan searched for (``labels``) kept an image.

    Called before anything of the dataset is replaced, so an empty or failed re-crawl leaves
    the previous manifest (and the images it names) as it was.
    """
    for label in (POSITIVE, NEGATIVE):
        if label not in labels:
            continue
        if (manifest["label"] == label).any():
            continue
        found = int((hits["label"] == label).sum())
        reasons = failures.loc[failures["label"] == label, "reason"].value_counts()
        why = ", ".join(f"{reason} {count}" for reason, count in reasons.head(4).items())
        raise InputError(
            f"crawl of dataset {dataset!r} kept no {label} images ({found} search results"
            + (f"; failures: {why}" if why else "")
            + "); nothing was replaced: an existing manifest is left as it was"
        )


def truth_coco(manifest: pd.DataFrame, category: str) -> dict[str, Any] | None:
    """COCO of the true boxes of demo images (None when no image has any)."""
    if "truth" not in manifest or not (manifest["truth"] != "").any():
        return None
    images, annotations = [], []
    for image_id, row in enumerate(manifest.itertuples(index=False), start=1):
        images.append(
            {
                "id": image_id,
                "file_name": f"{row.sha256}.jpg",
                "width": int(row.width),
                "height": int(row.height),
            }
        )
        for box in json.loads(row.truth) if row.truth else []:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": box,
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
    return {
        "info": {"description": "true boxes of synthetic demo images (evaluation only)"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": category}],
    }


def write_truth(store: ArtifactStore, dataset: str, coco: dict[str, Any]) -> str:
    """Store ``datasets/NAME/truth.coco.json``; return its URI."""
    key = truth_key(dataset)
    return store.put_bytes(key, json.dumps(coco).encode(), "application/json")
