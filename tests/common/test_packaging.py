"""One installed namespace: components/ and flows/ install as nolabel.components / nolabel.flows."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _folders_with_code() -> set[str]:
    names = set()
    for top in ("components", "flows"):
        for init in (REPO / top).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO).as_posix().replace("/", ".")
            names.add(f"nolabel.{relative}")
    return names


def test_every_package_folder_is_listed_under_the_namespace():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"] == {
        "nolabel.components": "components",
        "nolabel.flows": "flows",
    }
    assert set(setuptools["packages"]) == _folders_with_code()
    assert config["project"]["scripts"]["nolabel"].startswith("nolabel.components.")


@pytest.mark.slow
def test_the_wheel_installs_nothing_bare(tmp_path):
    source = tmp_path / "source"  # built from a copy: setuptools writes build/ beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("components", "flows"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), "."]
    subprocess.run(command, check=True, cwd=source)
    (wheel,) = wheels.glob("nolabel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"nolabel", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "nolabel/components/crawl/words.txt" in names
    assert "nolabel/components/detect/configs/faster-rcnn_effnet-lite0_fpn.py" in names
    assert "nolabel/flows/pipeline.py" in names
