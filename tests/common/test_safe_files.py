"""Opening frames without following links, FIFOs or paths that leave the folder."""

from __future__ import annotations

import os

import pytest

from nolabel.components.common.safe_files import (
    UnsafeFileError,
    read_regular,
    relative_inside,
)


@pytest.fixture()
def card(tmp_path):
    (tmp_path / "card" / "CAM01").mkdir(parents=True)
    (tmp_path / "card" / "CAM01" / "a.jpg").write_bytes(b"frame")
    (tmp_path / "secret.txt").write_text("secret")
    return tmp_path / "card"


def test_a_plain_file_inside_is_read_by_relative_or_absolute_name(card):
    assert read_regular(card, "CAM01/a.jpg") == b"frame"
    assert read_regular(card, card / "CAM01" / "a.jpg", limit=2) == b"fr"


@pytest.mark.parametrize("name", ["../secret.txt", "/etc/passwd", "CAM01/../../secret.txt", ""])
def test_names_that_leave_the_folder_are_refused(card, name):
    with pytest.raises(UnsafeFileError):
        read_regular(card, name)


def test_a_link_swapped_in_for_a_frame_or_a_folder_is_not_followed(card):
    (card / "CAM01" / "a.jpg").unlink()
    (card / "CAM01" / "a.jpg").symlink_to(card.parent / "secret.txt")
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read_regular(card, "CAM01/a.jpg")
    (card / "CAM02").symlink_to(card.parent)
    with pytest.raises(UnsafeFileError, match="not a plain folder"):
        read_regular(card, "CAM02/secret.txt")


def test_a_fifo_or_a_folder_is_refused_without_blocking(card):
    os.mkfifo(card / "CAM01" / "b.jpg")
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        read_regular(card, "CAM01/b.jpg")
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        read_regular(card, "CAM01")


def test_relative_inside_refuses_nul_and_non_strings():
    for bad in ("a\x00b.jpg", None, 3):
        with pytest.raises(UnsafeFileError):
            relative_inside(bad)
    assert relative_inside("CAM01/x.jpg").parts == ("CAM01", "x.jpg")
