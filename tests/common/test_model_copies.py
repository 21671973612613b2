"""Loading a model leaves no copy in TMPDIR: one reused copy per version under NOLABEL_HOME."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from nolabel.components.common import model_cache, owners, tracking


class _AddOne:
    """A tiny pyfunc model."""

    def __new__(cls):
        import mlflow.pyfunc

        class _Model(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input["x"] + 1

        return _Model()


def _register(name: str) -> tuple[str, str]:
    """Log and register a tiny model; its run id and version."""
    import mlflow

    with tracking.start_run("model-copies") as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=_AddOne())
    return run.info.run_id, tracking.register_model(info.model_uri, name, "candidate")


@pytest.fixture
def tmpdir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR is an empty folder of the test's (and tempfile re-reads it)."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return path


def _copies(home: Path) -> list[str]:
    root = home / "cache" / "models"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_loading_many_times_leaves_one_copy_and_nothing_in_tmpdir(
    tmpdir_env: Path, nolabel_home: Path
) -> None:
    run_id, version = _register("copies-model")
    uris = ["models:/copies-model@candidate", f"models:/copies-model/{version}"]
    paths = {tracking.download_model(uri) for uri in uris * 5}
    assert len(paths) == 1  # the alias and its version share one copy
    (path,) = paths
    assert (path / "MLmodel").is_file()
    assert [p.name for p in tmpdir_env.iterdir()] == []
    assert len(_copies(nolabel_home)) == 1
    by_run = {tracking.download_model(f"runs:/{run_id}/model") for _ in range(3)}
    assert len(by_run) == 1 and (next(iter(by_run)) / "MLmodel").is_file()
    assert len(_copies(nolabel_home)) == 2
    assert [p.name for p in tmpdir_env.iterdir()] == []


def test_moved_alias_gets_a_new_copy_and_old_ones_are_pruned(
    tmpdir_env: Path, nolabel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_cache, "MODEL_CACHE_KEEP", 1)
    first_run, _ = _register("moving-model")
    first = tracking.download_model("models:/moving-model@candidate")
    second_run, _ = _register("moving-model")  # the alias moves to version 2
    second = tracking.download_model("models:/moving-model@candidate")
    assert first != second and second.is_dir() and not first.exists()
    assert second_run in (second / "MLmodel").read_text()
    assert first_run != second_run and len(_copies(nolabel_home)) == 1


def test_a_killed_download_is_removed_by_the_next_one(tmpdir_env: Path, nolabel_home: Path) -> None:
    _register("partial-model")
    root = nolabel_home / "cache" / "models"
    root.mkdir(parents=True, exist_ok=True)
    pid, _, rest = owners.current_owner().split("-", 2)
    dead = f"{pid}-1-{rest}"  # this PID with another start time: a process that is gone
    killed = root / f".partial-{dead}.abc123"
    (killed / "content").mkdir(parents=True)
    live = root / f".partial-{owners.current_owner()}.def456"  # a download still running
    live.mkdir()
    tracking.download_model("models:/partial-model@candidate")
    assert not killed.exists() and live.is_dir()
    assert os.listdir(tmpdir_env) == []
