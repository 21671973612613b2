"""Which process owns a run or a work directory, and whether that process is still alive.

A process killed with SIGKILL runs no ``finally``: its MLflow run stays RUNNING and its work
directory stays on disk. Tagging both with an *owner* (host, PID namespace, PID and the PID's
start time) lets the next start tell a dead owner's leftovers from a live one's and close or
remove them. Owners on another host or in another PID namespace (a container) are never
judged: their processes cannot be seen from here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

OwnerState = Literal["alive", "dead", "unknown"]
# Directories named without an owner (before owners existed) are removed once this old.
LEGACY_MAX_AGE_S = 24 * 3600


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "localhost"


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "0"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22);
    ``"0"`` where ``/proc`` is missing but the PID exists; None when no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "0"
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def current_owner() -> str:
    """``PID-START-PIDNS-HOST`` of this process."""
    pid = os.getpid()
    return f"{pid}-{_start_ticks(pid) or 0}-{_pid_namespace()}-{_host()}"


def owner_state(owner: str) -> OwnerState:
    """``alive`` or ``dead`` for an owner of this host and PID namespace, else ``unknown``."""
    parts = owner.split("-", 3)
    if len(parts) != 4 or not parts[0].isdigit():
        return "unknown"
    pid, start, namespace, host = parts
    if host != _host() or namespace != _pid_namespace():
        return "unknown"
    now = _start_ticks(int(pid))
    if now is None or (start != "0" and now != "0" and now != start):
        return "dead"  # gone, or its PID now belongs to a newer process
    return "alive"


def _dir_owner(name: str, prefix: str) -> str | None:
    """The owner encoded in ``PREFIX OWNER . RANDOM``, or None (a name from before owners)."""
    owner, dot, _ = name[len(prefix) :].rpartition(".")
    return owner if dot and owner else None


def remove_stale(root: Path, prefix: str) -> list[Path]:
    """Remove the ``root/prefix*`` directories of dead owners (and unowned ones older than a
    day); return what was removed."""
    removed = []
    for path in sorted(root.glob(f"{prefix}*")) if root.is_dir() else []:
        owner, stale = _dir_owner(path.name, prefix), False
        if owner is not None:
            stale = owner_state(owner) == "dead"
        else:
            with contextlib.suppress(OSError):
                stale = time.time() - path.stat().st_mtime > LEGACY_MAX_AGE_S
        if path.is_dir() and stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def new_owned_dir(root: Path, prefix: str) -> Path:
    """A new directory ``root/PREFIX OWNER . RANDOM`` after removing dead owners' ones."""
    root.mkdir(parents=True, exist_ok=True)
    remove_stale(root, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{current_owner()}.", dir=root))


@contextlib.contextmanager
def owned_dir(root: Path, prefix: str) -> Iterator[Path]:
    """A work directory removed on exit, normal or by exception; the next ``owned_dir`` with
    this prefix removes it if its process was killed first."""
    path = new_owned_dir(root, prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
