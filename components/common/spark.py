"""Spark session builder: ``local[*]`` by default, any master URL for a cluster."""

from __future__ import annotations

import os
import sys

from pydantic import SecretStr

from nolabel.components.common.settings import Settings, get_settings


def executor_env(settings: Settings) -> dict[str, str]:
    """``NOLABEL_*`` variables that cluster executors need to see what the driver sees.

    Executors of a standalone/Kubernetes cluster are started by the cluster manager with its
    own environment, not the driver's: without these, a task opening the store or loading a
    ``models:/`` URI would use its own (default) ``NOLABEL_HOME`` and tracking database.
    Forwarded: ``home`` (absolute) and every setting given explicitly (environment or
    ``.env``); of the secrets only the S3 secret key (Spark redacts ``*SECRET*`` conf values
    in its UI and logs).
    """
    env = {}
    for name in sorted(settings.model_fields_set | {"home"}):
        value = getattr(settings, name, None)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            if not name.startswith("s3_"):
                continue
            value = value.get_secret_value()
        env[f"NOLABEL_{name.upper()}"] = str(value)
    return env


def get_spark(
    master: str | None = None, app_name: str = "nolabel", settings: Settings | None = None
):
    """A SparkSession on ``master`` (default from settings) with Arrow enabled."""
    settings = settings or get_settings()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # Executors must run this interpreter (the one with nolabel installed), not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    master = master or settings.spark_master
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "256")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", os.environ.get("SPARK_DRIVER_HOST", "127.0.0.1"))
        .config("spark.sql.warehouse.dir", str(settings.home / "spark-warehouse"))
    )
    if not master.startswith("local"):
        # Local-mode Python workers inherit the driver's environment; cluster executors do not.
        for name, value in executor_env(settings).items():
            builder = builder.config(f"spark.executorEnv.{name}", value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
