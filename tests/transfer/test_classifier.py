"""The Spark-free classifier: quick training, registration, loading, pyfunc, concurrency."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nolabel.components.common.errors import InputError
from nolabel.components.transfer.classifier import ImageClassifier, load_classifier
from nolabel.components.transfer.quick import train_classifier_from_arrays
from tests.transfer.conftest import toy_images


def _accuracy(classifier: ImageClassifier, images, labels) -> float:
    return float(np.mean(classifier.predict(images) == np.asarray(labels)))


@pytest.mark.slow
def test_quick_classifier_registers_and_loads_by_alias() -> None:
    images, labels = toy_images(10, seed=0)
    quick = train_classifier_from_arrays(images, labels, input_size=64)
    assert quick.model_version == "1"
    loaded = load_classifier("models:/nolabel-classifier@candidate")
    assert (loaded.name, loaded.version) == ("nolabel-classifier", "1")
    assert loaded.runtime == "onnx" and loaded.input_size == 64
    assert 0.0 < loaded.threshold < 1.0
    fresh, fresh_labels = toy_images(8, seed=5)
    assert _accuracy(loaded, fresh, fresh_labels) > 0.9
    # uniform batch, ragged list and the default registry lookup all agree
    batch = np.stack(fresh)
    np.testing.assert_allclose(loaded.predict_proba(batch), loaded.predict_proba(fresh), atol=1e-4)
    assert load_classifier().version == "1"
    assert load_classifier(str(quick.model_dir)).predict_proba(fresh[:2]).shape == (2,)
    # concurrent callers get the same answers as serial ones
    serial = [loaded.predict_proba(fresh[i : i + 2]) for i in range(0, 8, 2)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda i: loaded.predict_proba(fresh[i : i + 2]), range(0, 8, 2)))
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_pyfunc_takes_bytes_and_paths(tmp_path) -> None:
    import mlflow

    images, labels = toy_images(8, seed=1)
    train_classifier_from_arrays(images, labels, input_size=64)
    model = mlflow.pyfunc.load_model("models:/nolabel-classifier@candidate")
    buffers = []
    for image in (images[0], images[-1]):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=95)
        buffers.append(buffer.getvalue())
    path = tmp_path / "one.png"
    Image.fromarray(images[1]).save(path)
    out = model.predict(pd.DataFrame({"image": [*buffers, str(path)]}))
    assert list(out.columns) == ["probability", "label"]
    assert out["label"].tolist() == [1, 0, 1]
    assert out["probability"][0] > 0.5 > out["probability"][1]


def test_load_errors_are_clear(tmp_path) -> None:
    with pytest.raises(InputError, match="no registered model"):
        load_classifier()
    with pytest.raises(InputError, match="not a nolabel classifier"):
        load_classifier(str(tmp_path))
    with pytest.raises(InputError, match="both classes"):
        train_classifier_from_arrays(toy_images(2)[0][:2], [1, 1], register=False)
