"""Score results as MegaDetector batch output 1.6: every rule of the format."""

from __future__ import annotations

import copy
import json

import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.results.megadetector import format_errors, to_megadetector
from nolabel.components.results.records import load_results


def test_results_become_valid_megadetector_output(scored):
    doc = to_megadetector(load_results(scored.results))
    assert format_errors(doc) == []
    json.dumps(doc)  # plain JSON
    assert doc["info"]["format_version"] == "1.6"
    assert doc["info"]["detector"] == "nolabel-detector:2"
    assert doc["info"]["classifier"] == "nolabel-classifier:3"
    assert doc["info"]["classifier_metadata"]["typical_classification_threshold"] == 0.5
    # not "0", reserved for empty; people and vehicles as MegaDetector reports them
    assert doc["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    assert doc["classification_categories"] == {"1": "deer"}
    by_file = {image["file"]: image for image in doc["images"]}
    assert set(by_file) == {r["path"] for r in scored.payload["images"]} | {"cam2/broken.jpg"}
    first = by_file["cam1/SEQ1_01.jpg"]
    assert first["failure"] is None
    assert first["detections"] == [
        {
            "category": "1",
            "conf": 0.9,
            "bbox": [0.1, 0.1, 0.5, 0.8],  # [x_min, y_min, width, height] / (200, 100)
            "classifications": [["1", 0.93]],
        }
    ]
    # A box reaching past the frame is clipped to it; frames with no box have an empty list.
    # A box's classification is the classifier on its crop; a person is category 2.
    second = by_file["cam1/SEQ1_02.jpg"]["detections"]
    assert second[0]["bbox"] == [0.0, 0.0, 1.0, 0.5]
    assert second[0]["classifications"] == [["1", 0.97]]
    assert second[1] == {"category": "2", "conf": 0.45, "bbox": [0.5, 0.0, 0.25, 0.5]}
    assert by_file["cam2/SEQ2_01.jpg"]["detections"] == []
    assert by_file["cam2/broken.jpg"] == {
        "file": "cam2/broken.jpg",
        "failure": "undecodable: bad",
        "detections": None,
    }


def test_detector_only_results_have_no_classifications(scored):
    payload = dict(scored.payload, models={"classifier": None, "detector": "d:1"}, threshold=None)
    for record in payload["images"]:
        record.pop("probability")
        record.pop("burst_probability")
        for box in record["boxes"]:
            box.pop("crop_probability", None)
    scored.results.write_text(json.dumps(payload))
    doc = to_megadetector(load_results(scored.results))
    assert format_errors(doc) == []
    assert "classification_categories" not in doc and "classifier" not in doc["info"]
    assert all(
        "classifications" not in d for image in doc["images"] for d in image["detections"] or []
    )


BREAKS = {
    "no info": lambda d: d.pop("info"),
    "version not a string": lambda d: d["info"].update(format_version=1.6),
    "version too old": lambda d: d["info"].update(format_version="1.2"),
    "category id not an integer string": lambda d: d.update(detection_categories={"a": "x"}),
    "blank category name": lambda d: d.update(detection_categories={"1": " "}),
    "unmapped detection category": lambda d: d["images"][0]["detections"][0].update(category="7"),
    "conf not a float": lambda d: d["images"][0]["detections"][0].update(conf=1),
    "conf above one": lambda d: d["images"][0]["detections"][0].update(conf=1.5),
    "bbox in pixels": lambda d: d["images"][0]["detections"][0].update(bbox=[20, 10, 100, 80]),
    "bbox of three": lambda d: d["images"][0]["detections"][0].update(bbox=[0.1, 0.1, 0.5]),
    "unmapped classification": lambda d: d["images"][0]["detections"][0].update(
        classifications=[["9", 0.5]]
    ),
    "classifications not descending": lambda d: (
        d["classification_categories"].update({"2": "other"}),
        d["images"][0]["detections"][0].update(classifications=[["2", 0.1], ["1", 0.9]]),
    ),
    "failure with detections": lambda d: d["images"][-1].update(detections=[]),
    "processed without detections": lambda d: d["images"][0].pop("detections"),
    "image without file": lambda d: d["images"][0].pop("file"),
}


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_each_broken_rule_is_reported(scored, rule):
    doc = copy.deepcopy(to_megadetector(load_results(scored.results)))
    BREAKS[rule](doc)
    assert format_errors(doc), rule


def test_bad_results_files_get_one_clear_error(tmp_path, scored):
    with pytest.raises(InputError, match="no results file"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read results"):
        load_results(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InputError, match="not a `nolabel score` results file"):
        load_results(tmp_path / "list.json")
    escaping = dict(scored.payload, images=[dict(scored.payload["images"][0], path="../x.jpg")])
    (tmp_path / "escape.json").write_text(json.dumps(escaping))
    with pytest.raises(InputError, match="not inside the scored folder"):
        load_results(tmp_path / "escape.json")
    with pytest.raises(InputError, match="pass --images"):
        load_results(scored.results, images=tmp_path / "nowhere")
