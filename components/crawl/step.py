"""``nolabel crawl``: search a provider, download, check, dedupe and store a labelled dataset."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, field_validator, model_validator

from components.common.datasets import check_name, dataset_prefix, manifest_key, write_parquet
from components.common.settings import Settings, get_settings
from components.common.store import ArtifactStore, open_store
from components.crawl.api_client import user_agent
from components.crawl.fetch import FetchOptions
from components.crawl.hits import Hit
from components.crawl.outputs import (
    join_outcomes,
    require_images,
    split_outcomes,
    truth_coco,
    write_truth,
)
from components.crawl.plan import SearchTask, build_plan, check_plan_size
from components.crawl.progress import ProgressLog
from components.crawl.providers import ProviderOptions, make_provider

ProviderName = Literal["openverse", "wikimedia", "inaturalist", "bing", "folder", "demo"]
OFFLINE_PROVIDERS = ("folder", "demo")


class CrawlParams(BaseModel):
    """What to crawl and how."""

    dataset: str
    provider: ProviderName = "demo"
    positive: list[str] = Field(min_length=1)
    negative: list[str] = []
    random_negatives: int = Field(0, ge=0)
    pages: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=1000)
    negative_per_query: int | None = Field(None, ge=1, description="default: per_page")
    folder_root: str | None = None
    base_url: str | None = Field(None, description="override the provider's API endpoint")
    api_rate: float | None = Field(None, gt=0, description="API requests/s (default: published)")
    licences: list[str] = []
    research_grade: bool = True
    seed: int = 0
    image_width: int = Field(256, ge=16, le=4096)
    image_height: int = Field(192, ge=16, le=4096)
    concurrency: int = Field(32, ge=1, le=1024)
    per_host: int = Field(8, ge=1, le=1024)
    timeout: float = Field(20.0, gt=0)
    total_timeout: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    backoff: float = Field(0.5, ge=0)
    max_retry_after: float = Field(30.0, ge=0)
    max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_pixels: int | None = Field(None, ge=1, description="default: settings.max_image_pixels")
    resize: int | None = Field(None, ge=16, description="shrink the long side to this")
    near_duplicate_distance: int = Field(4, ge=-1, le=32, description="-1 disables")
    allow_private: bool | None = Field(None, description="default: settings.allow_private_hosts")
    allowed_networks: list[str] = Field([], description="CIDRs allowed despite being private")
    retry_failed: bool = Field(False, description="also retry URLs that failed for good")
    processes: int = Field(
        0, ge=0, le=256, description="download processes; 0: one per core for large crawls"
    )
    spark: bool = False
    spark_master: str | None = None
    spark_partitions: int | None = Field(None, ge=1)
    progress: bool = True

    @field_validator("positive", "negative")
    @classmethod
    def _queries(cls, values: list[str]) -> list[str]:
        cleaned = [value.strip() for value in values]
        if any(not value for value in cleaned):
            raise ValueError("queries must not be empty or blank")
        return cleaned

    @model_validator(mode="after")
    def _bounded(self) -> CrawlParams:
        """Refuse plans beyond the documented caps before anything is searched or fetched."""
        check_plan_size(
            len(self.positive),
            self.pages,
            self.per_page,
            len(self.negative) or self.random_negatives,
            self.negative_per_query or self.per_page,
        )
        return self


class CrawlResult(BaseModel):
    """What a crawl produced."""

    dataset: str
    dataset_uri: str
    manifest_uri: str
    failures_uri: str
    truth_uri: str | None = None
    counts: dict[str, int]
    failures: dict[str, int]
    duplicates: dict[str, int]
    hits: int
    downloaded: int
    resumed: int
    seconds: float
    images_per_second: float


def search_all(provider, plan: list[SearchTask], progress: ProgressLog, cache: bool) -> list:
    """Run every search of the plan (cached in the progress log for online providers)."""
    rows = []
    for task in plan:
        cached = progress.cached_search(provider.name, task.query, task.offset, task.count)
        if cached is None:
            found = [h.model_dump() for h in provider.search(task.query, task.offset, task.count)]
            if cache:
                progress.cache_search(provider.name, task.query, task.offset, task.count, found)
        else:
            found = [Hit.model_validate(h).model_dump() for h in cached]
        rows += [{**hit, "label": task.label} for hit in found]
    return rows


def fetch_options(params: CrawlParams, settings: Settings) -> FetchOptions:
    """Download options from the parameters and settings."""
    allow = settings.allow_private_hosts if params.allow_private is None else params.allow_private
    roots = [str(Path(params.folder_root).expanduser().resolve())] if params.folder_root else []
    return FetchOptions(
        timeout=params.timeout,
        total_timeout=params.total_timeout,
        max_bytes=params.max_bytes,
        max_pixels=params.max_pixels or settings.max_image_pixels,
        resize=params.resize,
        concurrency=params.concurrency,
        per_host=params.per_host,
        retries=params.retries,
        backoff=params.backoff,
        max_retry_after=params.max_retry_after,
        allow_private=allow,
        allowed_networks=params.allowed_networks,
        file_roots=roots,
        user_agent=user_agent(settings.user_agent_contact),
    )


def _todo(urls: list[str], previous: pd.DataFrame, stored: set[str], retry: bool) -> list[str]:
    ok = (previous["status"] == "ok") & previous["sha256"].isin(stored)
    given_up = (previous["status"] == "failed") & previous["permanent"].astype(bool) & (not retry)
    done = set(previous.loc[ok | given_up, "url"])
    return [url for url in urls if url not in done]


def _download(params, settings, store, options, todo, progress, stored_shas) -> list[dict]:
    from tqdm import tqdm

    with tqdm(
        total=len(todo), desc="crawl", unit="img", file=sys.stderr, disable=not params.progress
    ) as bar:
        if params.spark:
            from components.crawl.spark_crawl import crawl_with_spark

            return crawl_with_spark(
                settings,
                params.dataset,
                todo,
                options,
                params.spark_master,
                params.spark_partitions,
                sink=progress.append,
                on_done=bar.update,
            )
        from components.crawl.engine import crawl_urls
        from components.crawl.processes import crawl_in_processes, worker_count

        workers = worker_count(params.processes, len(todo))
        if workers > 1:
            return crawl_in_processes(
                settings, params.dataset, todo, options, workers, stored_shas, bar.update
            )
        return crawl_urls(
            store, params.dataset, todo, options, stored_shas, progress.append, bar.update
        )


def _stored_shas(store: ArtifactStore, dataset: str) -> set[str]:
    prefix = f"{dataset_prefix(dataset)}/images/"
    return {k[len(prefix) : -4] for k in store.list(prefix) if k.endswith(".jpg")}


def run(params: CrawlParams) -> CrawlResult:
    """Crawl, resumably: URLs already stored or failed for good are not fetched again."""
    started = time.monotonic()
    settings = get_settings()
    check_name(params.dataset)
    store = open_store(settings)
    plan = build_plan(
        params.positive,
        params.negative,
        params.random_negatives,
        params.pages,
        params.per_page,
        params.negative_per_query or params.per_page,
        params.seed,
    )
    provider = make_provider(
        params.provider,
        ProviderOptions(
            base_url=params.base_url,
            rate_per_second=params.api_rate,
            folder_root=Path(params.folder_root) if params.folder_root else None,
            positive_queries=params.positive,
            seed=params.seed,
            image_width=params.image_width,
            image_height=params.image_height,
            licences=params.licences,
            research_grade=params.research_grade,
        ),
        settings,
    )
    progress = ProgressLog(store, params.dataset)
    try:
        rows = search_all(provider, plan, progress, params.provider not in OFFLINE_PROVIDERS)
    finally:
        provider.close()
    hits = pd.DataFrame(rows, columns=[*Hit.model_fields, "label"])
    hits["order"] = range(len(hits))
    urls = list(dict.fromkeys(hits["image_url"]))
    previous = progress.read()
    stored_shas = _stored_shas(store, params.dataset)
    todo = _todo(urls, previous, stored_shas, params.retry_failed)
    options = fetch_options(params, settings)
    new = _download(params, settings, store, options, todo, progress, stored_shas)
    frames = [f for f in (previous, pd.DataFrame(new, columns=previous.columns)) if len(f)]
    records = pd.concat(frames, ignore_index=True) if frames else previous
    joined = join_outcomes(hits, records)
    manifest, failures, duplicates = split_outcomes(
        params.dataset, joined, params.near_duplicate_distance
    )
    # Before anything is replaced: an empty re-crawl must not wipe the dataset.
    require_images(params.dataset, {t.label for t in plan}, hits, manifest, failures)
    manifest_uri = write_parquet(store, manifest_key(params.dataset), manifest)
    failures_uri = write_parquet(
        store, f"{dataset_prefix(params.dataset)}/failures.parquet", failures
    )
    coco = truth_coco(manifest, params.positive[0])
    truth_uri = write_truth(store, params.dataset, coco) if coco else None
    progress.compact(records)
    seconds = time.monotonic() - started
    fetched_ok = sum(1 for r in new if r["status"] == "ok")
    return CrawlResult(
        dataset=params.dataset,
        dataset_uri=store.uri(dataset_prefix(params.dataset)),
        manifest_uri=manifest_uri,
        failures_uri=failures_uri,
        truth_uri=truth_uri,
        counts={
            label: int((manifest["label"] == label).sum()) for label in ("positive", "negative")
        },
        failures={str(k): int(v) for k, v in failures["reason"].value_counts().items()},
        duplicates=duplicates,
        hits=len(hits),
        downloaded=fetched_ok,
        resumed=len(urls) - len(todo),
        seconds=round(seconds, 3),
        images_per_second=round(fetched_ok / seconds, 2) if seconds > 0 else 0.0,
    )
