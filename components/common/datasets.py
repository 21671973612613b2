"""Datasets in the store: names, keys and Parquet manifests."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from nolabel.components.common.errors import InputError
from nolabel.components.common.store import ArtifactStore

if TYPE_CHECKING:
    import pandas as pd

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Columns of ``datasets/NAME/manifest.parquet`` written by crawl and read by later steps.
MANIFEST_COLUMNS = (
    "sha256",  # hex digest of the stored (re-encoded, metadata-free) JPEG bytes
    "key",  # store key of the image: datasets/NAME/images/<sha256>.jpg
    "label",  # "positive" | "negative"
    "query",
    "provider",
    "rank",
    "source_url",
    "page_url",
    "licence",
    "attribution",
    "width",
    "height",
    "group",  # optional grouping key (camera burst); empty string when none
)
POSITIVE, NEGATIVE = "positive", "negative"


def check_name(name: str) -> str:
    """Validate a dataset name (letters, digits, ``._-``)."""
    if not _NAME.match(name or ""):
        raise InputError(f"invalid dataset name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


def dataset_prefix(name: str) -> str:
    """Store prefix of a dataset."""
    return f"datasets/{check_name(name)}"


def manifest_key(name: str) -> str:
    """Store key of a dataset's manifest."""
    return f"{dataset_prefix(name)}/manifest.parquet"


def images_prefix(name: str) -> str:
    """Store prefix of a dataset's images."""
    return f"{dataset_prefix(name)}/images"


def image_key(name: str, sha256: str) -> str:
    """Store key of one image of a dataset."""
    return f"{images_prefix(name)}/{sha256}.jpg"


def failures_key(name: str) -> str:
    """Store key of a dataset's download failures."""
    return f"{dataset_prefix(name)}/failures.parquet"


def truth_key(name: str) -> str:
    """Store key of a dataset's true boxes (COCO), when its provider has them."""
    return f"{dataset_prefix(name)}/truth.coco.json"


def features_key(name: str, variant: str) -> str:
    """Store key of a dataset's cached features for one featurizer variant."""
    return f"{dataset_prefix(name)}/features/{variant}.parquet"


def lime_prefix(name: str) -> str:
    """Store prefix of a dataset's LIME outputs."""
    return f"{dataset_prefix(name)}/lime"


def write_parquet(store: ArtifactStore, key: str, frame: pd.DataFrame) -> str:
    """Write a DataFrame as Parquet to the store (atomically); return its URI."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return store.put_bytes(key, buffer.getvalue(), "application/vnd.apache.parquet")


def read_parquet(store: ArtifactStore, key: str) -> pd.DataFrame:
    """Read a Parquet object from the store."""
    try:
        data = store.get_bytes(key)
    except KeyError:
        raise InputError(f"{store.uri(key)} does not exist") from None
    import pandas as pd  # heavy: only when a table is read

    return pd.read_parquet(io.BytesIO(data))


def read_manifest(store: ArtifactStore, name: str) -> pd.DataFrame:
    """A dataset's manifest; a clear error if the dataset has not been crawled."""
    key = manifest_key(name)
    if not store.exists(key):
        raise InputError(f"dataset {name!r} has no manifest at {store.uri(key)}; crawl it first")
    return read_parquet(store, key)
