"""A real Spark standalone cluster on loopback: one master and one worker, for cluster tests.

Started with pyspark's own ``bin/spark-class`` (``org.apache.spark.deploy.master.Master`` and
``...worker.Worker``), so it needs nothing beyond the virtualenv and a JRE 17. The worker's
environment carries no ``NOLABEL_*`` variables: what executors know about the store and the
tracking server must come from the driver (``nolabel.components.common.spark.get_spark``), as on a
real multi-machine cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port, wait_for_port


@dataclass(frozen=True)
class Cluster:
    """URLs of a running standalone cluster."""

    master_url: str  # spark://127.0.0.1:PORT
    webui_url: str  # http://127.0.0.1:PORT
    log_dir: Path

    def state(self) -> dict[str, Any]:
        """The master's JSON status (workers, active and completed applications)."""
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=10) as response:
            return json.loads(response.read())

    def logs(self, limit: int = 4000) -> str:
        """The tail of every daemon and executor log (for assertion messages)."""
        parts = []
        for path in sorted(self.log_dir.rglob("*")):
            if path.is_file() and path.suffix in (".out", ".log", "") and path.stat().st_size:
                text = path.read_text(errors="replace")
                parts.append(f"--- {path.name}\n{text[-limit:]}")
        return "\n".join(parts)


def spark_class() -> Path:
    """pyspark's ``bin/spark-class`` launcher."""
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _daemon_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    env.update(
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_WORKER_DIR=str(work / "worker"),
        SPARK_LOG_DIR=str(work / "logs"),
        SPARK_PID_DIR=str(work / "pids"),
        PYSPARK_PYTHON=sys.executable,
        SPARK_DAEMON_MEMORY="512m",
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(spark_class()), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: teardown kills the JVM and its shell
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def standalone_cluster(
    work: Path, cores: int = 1, memory: str = "1g", timeout: float = 120.0, workers: int = 1
) -> Iterator[Cluster]:
    """Start a master and ``workers`` workers on 127.0.0.1; yield once they are ALIVE; stop
    them all."""
    work.mkdir(parents=True, exist_ok=True)
    env = _daemon_env(work)
    for name in ("worker", "logs", "pids"):
        (work / name).mkdir(exist_ok=True)
    port, webui = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui}", work)
    master_class = "org.apache.spark.deploy.master.Master"
    master = _start(
        [master_class, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui)],
        env,
        work / "logs" / "master.out",
    )
    processes = [master]
    try:
        wait_for_port(webui, timeout=timeout, process=master)
        for number in range(workers):
            folder = work / "worker" / str(number) if workers > 1 else work / "worker"
            folder.mkdir(parents=True, exist_ok=True)
            processes.append(
                _start(
                    ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores",
                     str(cores), "--memory", memory, "--webui-port", str(free_port()),
                     "--work-dir", str(folder), cluster.master_url],
                    env,
                    work / "logs" / f"worker{number or ''}.out",
                )
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if any(worker.poll() is not None for worker in processes[1:]):
                raise RuntimeError(f"a Spark worker exited: {cluster.logs()}")
            try:
                alive = [w for w in cluster.state().get("workers", []) if w["state"] == "ALIVE"]
            except OSError:
                alive = []
            if len(alive) >= workers:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(alive)} of {workers} workers ALIVE after {timeout}s: "
                                   f"{cluster.logs()}")  # fmt: skip
            time.sleep(0.5)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop(process)
