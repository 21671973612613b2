"""Store contract: the same tests against the local backend and a real S3 server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.common.s3_store import S3Store
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import ArtifactStore, LocalStore, open_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    if request.param == "s3":
        request.getfixturevalue("s3_bucket")
    store = open_store(get_settings())
    assert isinstance(store, S3Store if request.param == "s3" else LocalStore)
    return store


def test_bytes_round_trip_and_uri(store: ArtifactStore) -> None:
    uri = store.put_bytes("a/b/c.bin", b"\x00\x01payload")
    assert store.get_bytes("a/b/c.bin") == b"\x00\x01payload"
    assert uri == store.uri("a/b/c.bin")
    assert uri.startswith(("file://", "s3://"))
    assert store.key_from_uri(uri) == "a/b/c.bin"


def test_overwrite_replaces_content(store: ArtifactStore) -> None:
    store.put_bytes("k", b"one")
    store.put_bytes("k", b"two")
    assert store.get_bytes("k") == b"two"


def test_files_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "in.dat"
    source.write_bytes(b"x" * 300_000)
    store.put_file("files/in.dat", source)
    target = store.get_file("files/in.dat", tmp_path / "out" / "in.dat")
    assert target.read_bytes() == source.read_bytes()
    cached = store.get_local_path("files/in.dat", tmp_path / "cache")
    assert cached.read_bytes() == source.read_bytes()


def test_list_by_prefix_exists_delete(store: ArtifactStore) -> None:
    for key in ("ds/one/x.jpg", "ds/one/y.jpg", "ds/two/z.jpg", "other.txt"):
        store.put_bytes(key, key.encode())
    assert store.list("ds/one/") == ["ds/one/x.jpg", "ds/one/y.jpg"]
    assert store.list("ds/") == ["ds/one/x.jpg", "ds/one/y.jpg", "ds/two/z.jpg"]
    assert "other.txt" in store.list("")
    assert store.exists("ds/two/z.jpg")
    store.delete("ds/two/z.jpg")
    assert not store.exists("ds/two/z.jpg")
    store.delete("ds/two/z.jpg")  # deleting twice is fine
    assert store.list("ds/two/") == []


def test_missing_objects_raise_key_error(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        store.get_bytes("nope/missing")
    with pytest.raises(KeyError):
        store.get_file("nope/missing", tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("key", ["", "../escape", "a/../../b", " padded"])
def test_bad_keys_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(InputError):
        store.put_bytes(key, b"x")


def test_local_writes_are_atomic(tmp_path: Path) -> None:
    """A reader never sees a partial object: it is the old or the new content, whole."""
    store = LocalStore(tmp_path / "store")
    old, new = b"a" * 2_000_000, b"b" * 2_000_000
    store.put_bytes("big", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.get_bytes("big")[:1] + bytes([len(store.get_bytes("big")) % 251]))

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(20):
        store.put_bytes("big", new)
        store.put_bytes("big", old)
    stop.set()
    thread.join()
    whole = len(old) % 251
    assert seen <= {b"a" + bytes([whole]), b"b" + bytes([whole])}
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.endswith(".part")]


def test_failed_local_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(FileNotFoundError):
        store.put_file("x/y", tmp_path / "does-not-exist")
    assert not store.exists("x/y")
    assert store.list("") == []
