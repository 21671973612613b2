"""``nolabel crawl``: search a provider, download, check, dedupe and store a labelled dataset."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from nolabel.components.common.datasets import (
    check_name,
    dataset_prefix,
    failures_key,
    images_prefix,
    manifest_key,
    write_parquet,
)
from nolabel.components.common.names import OFFLINE_PROVIDERS
from nolabel.components.common.settings import Settings, get_settings
from nolabel.components.common.store import ArtifactStore, open_store
from nolabel.components.crawl.api_client import user_agent
from nolabel.components.crawl.contract import CrawlParams, CrawlResult
from nolabel.components.crawl.fetch import FetchOptions
from nolabel.components.crawl.hits import Hit
from nolabel.components.crawl.outputs import (
    join_outcomes,
    require_images,
    split_outcomes,
    truth_coco,
    write_truth,
)
from nolabel.components.crawl.plan import SearchTask, build_plan
from nolabel.components.crawl.progress import ProgressLog
from nolabel.components.crawl.providers import ProviderOptions, make_provider


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
            from nolabel.components.crawl.spark_crawl import crawl_with_spark

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
        from nolabel.components.crawl.engine import crawl_urls
        from nolabel.components.crawl.workers import crawl_in_processes, worker_count

        workers = worker_count(params.processes, len(todo))
        if workers > 1:
            return crawl_in_processes(
                settings, params.dataset, todo, options, workers, stored_shas, bar.update
            )
        return crawl_urls(
            store, params.dataset, todo, options, stored_shas, progress.append, bar.update
        )


def _stored_shas(store: ArtifactStore, dataset: str) -> set[str]:
    prefix = f"{images_prefix(dataset)}/"
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
    failures_uri = write_parquet(store, failures_key(params.dataset), failures)
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
