"""``nolabel crawl`` command."""

from __future__ import annotations

from typing import Optional

import typer

from components.common.cli import emit


def crawl(
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name (datasets/NAME in the store)."
    ),
    provider: str = typer.Option(
        "demo", "--provider", help="openverse | wikimedia | inaturalist | bing | folder | demo"
    ),
    positive: list[str] = typer.Option(..., "--positive", help="Positive query (repeatable)."),
    negative: Optional[list[str]] = typer.Option(  # noqa: UP045 - typer needs Optional
        None, "--negative", help="Explicit negative query (repeatable)."
    ),
    random_negatives: int = typer.Option(0, "--random-negatives", help="N random-word queries."),
    pages: int = typer.Option(1, "--pages", help="Pages per positive query."),
    per_page: int = typer.Option(20, "--per-page", help="Results per page."),
    negative_per_query: Optional[int] = typer.Option(  # noqa: UP045
        None, "--negative-per-query", help="Images per negative query (default --per-page)."
    ),
    folder_root: Optional[str] = typer.Option(None, "--folder-root", help="Folder provider root."),  # noqa: UP045
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Override the API endpoint."),  # noqa: UP045
    api_rate: Optional[float] = typer.Option(  # noqa: UP045
        None, "--api-rate", help="API requests per second (default: the provider's limit)."
    ),
    licence: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--licence", help="Licence filter (openverse: by, cc0...; inaturalist: cc-by...)."
    ),
    research_grade: bool = typer.Option(
        True, "--research-grade/--any-grade", help="iNaturalist: research-grade only."
    ),
    image_width: int = typer.Option(256, "--image-width", help="Demo image width."),
    image_height: int = typer.Option(192, "--image-height", help="Demo image height."),
    concurrency: int = typer.Option(32, "--concurrency", help="Simultaneous downloads."),
    per_host: int = typer.Option(8, "--per-host", help="Simultaneous downloads per host."),
    processes: int = typer.Option(
        0, "--processes", help="Download processes (0: one per core for large crawls)."
    ),
    timeout: float = typer.Option(20.0, "--timeout", help="Network timeout in seconds."),
    retries: int = typer.Option(2, "--retries", help="Retries of 429/5xx/timeouts per image."),
    max_bytes: int = typer.Option(20 * 1024 * 1024, "--max-bytes", help="Per-image size cap."),
    resize: Optional[int] = typer.Option(None, "--resize", help="Shrink the long side to N px."),  # noqa: UP045
    near_distance: int = typer.Option(4, "--near-distance", help="pHash bits; -1 disables."),
    seed: int = typer.Option(0, "--seed", help="Seed for random words and demo images."),
    allow_private: Optional[bool] = typer.Option(  # noqa: UP045
        None, "--allow-private/--no-allow-private", help="Allow private/loopback hosts."
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry permanent failures."),
    spark: bool = typer.Option(False, "--spark", help="Download inside Spark mapPartitions."),
    spark_master: Optional[str] = typer.Option(None, "--spark-master", help="Spark master URL."),  # noqa: UP045
    spark_partitions: Optional[int] = typer.Option(None, "--spark-partitions"),  # noqa: UP045
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Search a provider, download, check and dedupe images into a labelled dataset."""
    from components.crawl.step import CrawlParams, run

    params = CrawlParams(
        dataset=dataset,
        provider=provider,
        positive=positive,
        negative=negative or [],
        random_negatives=random_negatives,
        pages=pages,
        per_page=per_page,
        negative_per_query=negative_per_query,
        folder_root=folder_root,
        base_url=base_url,
        api_rate=api_rate,
        licences=licence or [],
        research_grade=research_grade,
        image_width=image_width,
        image_height=image_height,
        retries=retries,
        concurrency=concurrency,
        per_host=per_host,
        processes=processes,
        timeout=timeout,
        max_bytes=max_bytes,
        resize=resize,
        near_duplicate_distance=near_distance,
        seed=seed,
        allow_private=allow_private,
        retry_failed=retry_failed,
        spark=spark,
        spark_master=spark_master,
        spark_partitions=spark_partitions,
        progress=progress,
    )
    emit(run(params))


def register(app: typer.Typer) -> None:
    """Add ``crawl`` to the top-level app."""
    app.command("crawl")(crawl)
