"""The results file's versioned contract: what score writes, what every reader takes."""

from __future__ import annotations

import json

import pytest

from nolabel.components.common.defaults import (
    DEFAULT_BURST_VIEWS,
    DEFAULT_FRAME_GATE,
    DEFAULT_MIN_SCORE,
)
from nolabel.components.common.errors import InputError
from nolabel.components.results.file_format import RESULTS_FORMAT, ResultsFile, parse_results
from nolabel.components.results.records import load_results


def _save(scored, **changes) -> None:
    scored.results.write_text(json.dumps({**scored.payload, **changes}))


def test_a_file_from_before_versions_loads_with_its_settings(scored):
    assert "format_version" not in scored.payload  # as score wrote it before 1.0
    loaded = load_results(scored.results)
    assert loaded.label == "deer" and loaded.threshold == 0.5 and loaded.min_score == 0.3
    assert [r["path"] for r in loaded.images] == [r["path"] for r in scored.payload["images"]]
    checked = parse_results(scored.payload, "old.json")
    assert checked.format_version is None and checked.frame_gate == DEFAULT_FRAME_GATE
    assert checked.burst_views == DEFAULT_BURST_VIEWS


def test_what_score_writes_round_trips_with_unknown_fields_kept(scored):
    written = ResultsFile(**{**scored.payload, "frame_gate": 0.8, "note": "kept"})
    assert written.format_version == RESULTS_FORMAT
    text = written.to_json()
    scored.results.write_text(text)
    again = parse_results(json.loads(text), "r.json")
    assert again.format_version == RESULTS_FORMAT and again.frame_gate == 0.8
    assert again.model_extra == {"note": "kept"}
    assert load_results(scored.results).images == written.images


def test_a_later_minor_version_loads_and_missing_settings_take_the_defaults(scored):
    payload = {k: v for k, v in scored.payload.items() if k not in ("min_score", "label", "models")}
    checked = parse_results({**payload, "format_version": "nolabel-results-1.7"}, "r.json")
    assert checked.min_score == DEFAULT_MIN_SCORE and checked.label == "animal"
    assert checked.models == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": "nolabel-results-2.0"}, "format_version 'nolabel-results-2.0' is not"),
        ({"format_version": 1.0}, "format_version 1.0 is not one this nolabel reads"),
        ({"min_score": True}, "min_score must be a number between 0 and 1"),
        ({"frame_gate": 1.5}, "frame_gate must be a number between 0 and 1"),
        ({"burst_views": -1}, "burst_views must be a whole number from 0"),
        ({"burst_views": 2.5}, "burst_views must be a whole number from 0"),
        ({"threshold": "0.5"}, "threshold must be a number between 0 and 1 or null"),
        ({"models": []}, "models must be an object"),
        ({"label": 3}, "label must be a text"),
        ({"root": 3}, "root must be a text or null"),
        ({"failures": {}}, "failures must be a list"),
    ],
)
def test_a_bad_file_is_one_error_naming_it(scored, changes, message):
    _save(scored, **changes)
    with pytest.raises(InputError, match=f"^{scored.results}: ") as caught:
        load_results(scored.results)
    assert message in str(caught.value)
