"""Where `nolabel score` writes: a local path, or a store URI mirrored from a local work folder.

A store ``--out`` (``s3://bucket/runs/card7/results.json``, any URI the configured store names)
is written under ``$NOLABEL_HOME/work/score/<digest of the URI>/`` and uploaded beside its
key: the partial logs (``results.json…partial.jsonl``: the run's, or each shard's) every
:data:`SYNC_SECONDS` while the run goes and once more when it ends, however it ends; on success
the exports, then the results file itself (last, as on disk). The store's copy of the partial
logs is what a rerun resumes from (a new pod has an empty work folder): before the run, each is
downloaded unless the local one is longer (append-only logs: the longer one holds more).
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path, PurePosixPath
from types import TracebackType
from urllib.parse import unquote, urlparse

from nolabel.components.common.errors import InputError
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.components.detect.contract import ScoreResult

STORE_SCHEMES = ("s3://", "file://")
PARTIAL_SUFFIX = ".partial.jsonl"
SYNC_SECONDS = 30.0


class ScoreTarget:
    """``--out`` as a local path (:attr:`local`) and, for a store URI, its mirror in the store.

    Use as a context manager around the run; :meth:`publish` uploads a finished run's files."""

    def __init__(self, out: str, sync_seconds: float = SYNC_SECONDS) -> None:
        self.store, self.key, self.sync_seconds = None, "", sync_seconds
        self._sent: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the sync thread and the last push
        self._thread: threading.Thread | None = None
        if not out.startswith(STORE_SCHEMES):
            self.local = Path(out).expanduser()
            return
        store = open_store()
        try:
            self.key = store.key_from_uri(out)
        except InputError:
            if out.startswith("file://"):  # a file:// path outside the store: written there
                self.local = Path(unquote(urlparse(out).path))
                return
            raise InputError(
                f"--out {out} is not in the configured store ({store.root_uri()}); "
                "set NOLABEL_S3_BUCKET / NOLABEL_S3_ENDPOINT to its bucket"
            ) from None
        self.store = store
        digest = hashlib.sha256(store.uri(self.key).encode()).hexdigest()[:16]
        self.work = get_settings().home / "work" / "score" / digest
        self.local = self.work / PurePosixPath(self.key).name

    def _sibling(self, name: str) -> str:
        """The store key of ``name`` beside the results' key."""
        parent = str(PurePosixPath(self.key).parent)
        return name if parent == "." else f"{parent}/{name}"

    def _is_partial(self, name: str) -> bool:
        return name.startswith(self.local.name + ".") and name.endswith(PARTIAL_SUFFIX)

    def pull(self) -> None:
        """Download the store's partial logs of these results (see the module docstring); the
        work folder's other files (an earlier run's results and exports) are removed."""
        if self.store is None:
            return
        self.work.mkdir(parents=True, exist_ok=True)
        for stale in self.work.iterdir():
            if stale.is_file() and not self._is_partial(stale.name):
                stale.unlink()
        for key in self.store.list(self.key):
            name = PurePosixPath(key).name
            if key != self._sibling(name) or not self._is_partial(name):
                continue
            data = self.store.get_bytes(key)
            local = self.work / name
            if not local.exists() or local.stat().st_size <= len(data):
                local.write_bytes(data)
            self._sent[name] = data

    def push_partials(self) -> None:
        """Upload every partial log that changed, up to its last complete line."""
        if self.store is None or not self.work.is_dir():
            return
        with self._lock:
            self._push_partials()

    def _push_partials(self) -> None:
        for local in sorted(self.work.iterdir()):
            if not self._is_partial(local.name) or not local.is_file():
                continue
            data = local.read_bytes()
            data = data[: data.rfind(b"\n") + 1]
            if self._sent.get(local.name) != data:
                self.store.put_bytes(self._sibling(local.name), data, "application/x-ndjson")
                self._sent[local.name] = data

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.sync_seconds):
            try:
                self.push_partials()
            except Exception as exc:  # the run goes on; the next sync or the last one retries
                print(f"score: partial log not synced to the store: {exc}", file=sys.stderr)

    def __enter__(self) -> ScoreTarget:
        self.pull()
        if self.store is not None:
            self._thread = threading.Thread(target=self._sync_loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        try:
            self.push_partials()
        except Exception as exc:
            if error is None:
                raise
            print(f"score: partial log not synced to the store: {exc}", file=sys.stderr)

    def publish(self, result: ScoreResult) -> ScoreResult:
        """Upload a finished run's exports, then its results file (when the run wrote one: a
        shard writes only its log); the result names them by their store URIs. A local
        ``--out`` is returned as it is."""
        if self.store is None:
            return result
        self.push_partials()
        exports = {}
        for kind, path in result.exports.items():
            exports[kind] = self.store.put_file(self._sibling(Path(path).name), path)
        out = self.store.uri(self.key)
        if self.local.is_file():
            self.store.put_file(self.key, self.local)
        partial = self.store.uri(self._sibling(Path(result.partial).name))
        return result.model_copy(update={"out": out, "partial": partial, "exports": exports})
