"""Crawl guards: an empty re-crawl never wipes a dataset; blank and oversized plans are refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from nolabel.components.common.cli import new_app, run_app
from nolabel.components.common.datasets import MANIFEST_COLUMNS, manifest_key, write_parquet
from nolabel.components.common.errors import InputError
from nolabel.components.common.store import open_store
from nolabel.components.crawl import step
from nolabel.components.crawl.cli import register
from nolabel.components.crawl.plan import MAX_RESULTS_PER_CRAWL, MAX_RESULTS_PER_QUERY
from nolabel.components.crawl.step import CrawlParams, run
from tests.crawl.servers import jpeg_bytes


def _folders(root: Path, positives: int, negatives: int) -> Path:
    for folder, count, base in (("pos", positives, 0), ("neg", negatives, 500)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for seed in range(base, base + count):
            (root / folder / f"{seed}.jpg").write_bytes(jpeg_bytes(seed, (40, 30)))
    return root


def _params(root: Path, **extra) -> CrawlParams:
    values = dict(
        dataset="e1",
        provider="folder",
        positive=["pos"],
        negative=["neg"],
        per_page=50,
        folder_root=str(root),
        near_duplicate_distance=-1,
        processes=1,
        progress=False,
    )
    return CrawlParams(**{**values, **extra})


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a dataset in the local store (progress log aside), by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".progress" not in p.parts
    }


@pytest.mark.parametrize(
    ("positives", "negatives", "label"), [(0, 0, "positive"), (3, 0, "negative")]
)
def test_empty_recrawl_leaves_the_dataset_as_it_was(
    tmp_path: Path, nolabel_home: Path, positives: int, negatives: int, label: str
) -> None:
    first = run(_params(_folders(tmp_path / "full", 20, 20)))
    assert first.counts == {"positive": 20, "negative": 20}
    dataset_dir = nolabel_home / "store" / "datasets" / "e1"
    before = _snapshot(dataset_dir)
    assert len([k for k in before if k.startswith("images/")]) == 40

    empty = _folders(tmp_path / "empty", positives, negatives)
    with pytest.raises(InputError, match=f"kept no {label} images"):
        run(_params(empty))
    assert _snapshot(dataset_dir) == before  # manifest, failures and images untouched
    manifest = pd.read_parquet(dataset_dir / "manifest.parquet")
    assert len(manifest) == 40


def test_empty_first_crawl_is_an_error_and_writes_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="kept no positive images"):
        run(_params(_folders(tmp_path / "empty", 0, 0), dataset="never"))
    assert not open_store().exists(manifest_key("never"))


def test_positive_only_crawl_needs_no_negatives(tmp_path: Path) -> None:
    result = run(_params(_folders(tmp_path / "f", 3, 0), negative=[], dataset="posonly"))
    assert result.counts == {"positive": 3, "negative": 0}


@pytest.mark.parametrize("queries", [[""], ["  "], ["lion", "\t"]])
def test_blank_queries_are_refused(queries: list[str]) -> None:
    with pytest.raises(ValidationError, match="must not be empty or blank"):
        CrawlParams(dataset="d", positive=queries)
    with pytest.raises(ValidationError, match="must not be empty or blank"):
        CrawlParams(dataset="d", positive=["lion"], negative=queries)
    assert CrawlParams(dataset="d", positive=[" lion "]).positive == ["lion"]


@pytest.mark.parametrize(
    "extra",
    [
        {"pages": 100_000, "per_page": 1000},
        {"pages": MAX_RESULTS_PER_QUERY + 1, "per_page": 1},
        {"negative": ["rock"], "negative_per_query": MAX_RESULTS_PER_QUERY + 1},
        {"positive": [f"q{i}" for i in range(11)], "pages": 10, "per_page": 1000},
    ],
)
def test_oversized_plans_are_refused_up_front(extra: dict) -> None:
    with pytest.raises(ValidationError, match="maximum of"):
        CrawlParams(**{"dataset": "d", "positive": ["lion"], **extra})


def test_plans_at_the_caps_are_accepted() -> None:
    queries = MAX_RESULTS_PER_CRAWL // MAX_RESULTS_PER_QUERY
    params = CrawlParams(
        dataset="d", positive=[f"q{i}" for i in range(queries)], pages=10, per_page=1000
    )
    assert params.pages * params.per_page == MAX_RESULTS_PER_QUERY


def test_cli_refuses_before_any_search(monkeypatch, capsys) -> None:
    def no_provider(*args, **kwargs):
        raise AssertionError("the provider must not be created")

    monkeypatch.setattr(step, "make_provider", no_provider)
    app = new_app("test")
    register(app)
    for argv in (
        ["--positive", "x", "--pages", "100000", "--per-page", "1000"],
        ["--positive", ""],
        ["--positive", "   "],
    ):
        with pytest.raises(SystemExit) as exited:
            run_app(app, ["crawl", "--dataset", "d", "--no-progress", *argv])
        assert exited.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: invalid parameters"), err


def test_train_on_an_empty_manifest_is_one_clear_error(monkeypatch) -> None:
    from nolabel.components.transfer import featurize
    from nolabel.components.transfer import step as train_step
    from nolabel.components.transfer.step import TrainParams
    from nolabel.components.transfer.step import run as train

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark must not start for an empty manifest")

    monkeypatch.setattr(featurize, "spark_session", no_spark)
    monkeypatch.setattr(train_step, "spark_session", no_spark)  # the name the step calls
    store = open_store()
    write_parquet(store, manifest_key("e1"), pd.DataFrame(columns=list(MANIFEST_COLUMNS)))
    with pytest.raises(InputError, match="need at least 4 of each label"):
        train(TrainParams(dataset="e1"))
