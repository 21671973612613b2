"""The crawl step's contract: ``CrawlParams`` in, ``CrawlResult`` out (light: no heavy import)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from nolabel.components.common.contracts import Contract, Step
from nolabel.components.common.names import ProviderName
from nolabel.components.crawl.plan import check_plan_size


def clean_queries(values: list[str]) -> list[str]:
    """Queries stripped; an empty or blank one is an error."""
    cleaned = [value.strip() for value in values]
    if any(not value for value in cleaned):
        raise ValueError("queries must not be empty or blank")
    return cleaned


Queries = Annotated[list[str], AfterValidator(clean_queries)]
PER_PAGE, MAX_PER_PAGE = 20, 1000  # results per page: default and cap (flows reuse them)


class CrawlParams(Contract):
    """What to crawl and how."""

    dataset: str = Field(description="Dataset name (datasets/NAME in the store).")
    provider: ProviderName = Field("demo", description="Image search provider.")
    positive: Queries = Field(min_length=1, description="Positive query (repeatable).")
    negative: Queries = Field([], description="Explicit negative query (repeatable).")
    random_negatives: int = Field(0, ge=0, description="N random-word negative queries.")
    pages: int = Field(1, ge=1, description="Pages per positive query.")
    per_page: int = Field(PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Results per page.")
    negative_per_query: int | None = Field(
        None, ge=1, description="Images per negative query (default: per_page)."
    )
    folder_root: str | None = Field(None, description="Root directory of the folder provider.")
    base_url: str | None = Field(None, description="Override the provider's API endpoint.")
    api_rate: float | None = Field(
        None, gt=0, description="API requests per second (default: the provider's limit)."
    )
    licences: list[str] = Field(
        [], description="Licence filter (openverse: by, cc0...; inaturalist: cc-by...)."
    )
    research_grade: bool = Field(True, description="iNaturalist: research-grade only.")
    seed: int = Field(0, description="Seed for random words and demo images.")
    image_width: int = Field(256, ge=16, le=4096, description="Demo image width.")
    image_height: int = Field(192, ge=16, le=4096, description="Demo image height.")
    concurrency: int = Field(32, ge=1, le=1024, description="Simultaneous downloads.")
    per_host: int = Field(8, ge=1, le=1024, description="Simultaneous downloads per host.")
    timeout: float = Field(20.0, gt=0, description="Network timeout in seconds.")
    total_timeout: float = Field(60.0, gt=0, description="Whole-download timeout in seconds.")
    retries: int = Field(2, ge=0, le=10, description="Retries of 429/5xx/timeouts per image.")
    backoff: float = Field(0.5, ge=0, description="First retry delay in seconds (doubles).")
    max_retry_after: float = Field(30.0, ge=0, description="Longest Retry-After honoured (s).")
    max_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="Per-image size cap.")
    max_pixels: int | None = Field(
        None, ge=1, description="Per-image pixel cap (default: settings.max_image_pixels)."
    )
    resize: int | None = Field(None, ge=16, description="Shrink the long side to N px.")
    near_duplicate_distance: int = Field(
        4, ge=-1, le=32, description="pHash bits of near-duplicates; -1 disables."
    )
    allow_private: bool | None = Field(
        None, description="Allow private/loopback hosts (default: settings.allow_private_hosts)."
    )
    allowed_networks: list[str] = Field([], description="CIDRs allowed despite being private.")
    retry_failed: bool = Field(False, description="Also retry URLs that failed for good.")
    processes: int = Field(
        0, ge=0, le=256, description="Download processes (0: one per core for large crawls)."
    )
    spark: bool = Field(False, description="Download inside Spark mapPartitions.")
    spark_master: str | None = Field(None, description="Spark master URL.")
    spark_partitions: int | None = Field(None, ge=1, description="Spark partitions.")
    progress: bool = Field(True, description="Progress bar on stderr.")

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


class CrawlResult(Contract):
    """What a crawl produced."""

    dataset: str = Field(description="Dataset name (datasets/NAME in the store).")
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


def crawl(params: CrawlParams) -> CrawlResult:
    """Run the crawl step (:func:`nolabel.components.crawl.step.run`, imported now)."""
    from nolabel.components.crawl.step import run

    return run(params)


CRAWL = Step(crawl, image="crawl")
