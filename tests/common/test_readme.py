"""The README documents every setting."""

from __future__ import annotations

from nolabel.components.common.settings import Settings
from tests.conftest import REPO_ROOT


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"NOLABEL_{name.upper()}"
        for name in Settings.model_fields
        if f"`NOLABEL_{name.upper()}`" not in readme
    ]
    assert not missing, f"README configuration table lacks {missing}"


def test_readme_has_exactly_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
