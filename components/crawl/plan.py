"""Query plan: positive queries × pages, negatives as explicit queries or random words."""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources

from nolabel.components.common.datasets import NEGATIVE, POSITIVE
from nolabel.components.common.errors import InputError

# Caps on what a plan may ask for, checked before any search or download.
MAX_RESULTS_PER_QUERY = 10_000  # pages × per_page of one positive query; negative_per_query
MAX_RESULTS_PER_CRAWL = 100_000  # all queries of one crawl together


@dataclass(frozen=True)
class SearchTask:
    """One search request of the plan."""

    label: str
    query: str
    offset: int
    count: int


def word_list() -> list[str]:
    """The random-word list shipped with the package."""
    text = (
        resources.files("nolabel.components.crawl")
        .joinpath("words.txt")
        .read_text(encoding="utf-8")
    )
    return [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]


def random_words(count: int, seed: int, exclude: set[str] = frozenset()) -> list[str]:
    """``count`` distinct words drawn reproducibly from the shipped list."""
    words = [w for w in word_list() if w.lower() not in {e.lower() for e in exclude}]
    if count > len(words):
        raise InputError(f"--random-negatives {count} exceeds the {len(words)} shipped words")
    return random.Random(seed).sample(words, count)


def build_plan(
    positives: list[str],
    negatives: list[str],
    random_negatives: int,
    pages: int,
    per_page: int,
    negative_per_query: int,
    seed: int = 0,
) -> list[SearchTask]:
    """The search tasks: every positive over ``pages`` pages of ``per_page``; every negative
    query (explicit or random words) once, ``negative_per_query`` results."""
    if not positives:
        raise InputError("give at least one --positive query")
    if pages < 1 or per_page < 1 or negative_per_query < 1:
        raise InputError("--pages, --per-page and --negative-per-query must be at least 1")
    if negatives and random_negatives:
        raise InputError("use either --negative or --random-negatives, not both")
    clash = {q.lower() for q in positives} & {q.lower() for q in negatives}
    if clash:
        raise InputError(f"queries both positive and negative: {', '.join(sorted(clash))}")
    tasks = [
        SearchTask(POSITIVE, query, page * per_page, per_page)
        for query in positives
        for page in range(pages)
    ]
    if random_negatives:
        negatives = random_words(random_negatives, seed, exclude=set(positives))
    tasks += [SearchTask(NEGATIVE, query, 0, negative_per_query) for query in negatives]
    return tasks


def check_plan_size(
    positives: int, pages: int, per_page: int, negatives: int, negative_per_query: int
) -> int:
    """The number of results a plan asks for; ``ValueError`` beyond the documented caps."""
    per_positive = pages * per_page
    if per_positive > MAX_RESULTS_PER_QUERY:
        raise ValueError(
            f"pages ({pages}) × per_page ({per_page}) = {per_positive:,} results per positive "
            f"query exceeds the maximum of {MAX_RESULTS_PER_QUERY:,}"
        )
    if negative_per_query > MAX_RESULTS_PER_QUERY:
        raise ValueError(
            f"negative_per_query ({negative_per_query:,}) exceeds the maximum of "
            f"{MAX_RESULTS_PER_QUERY:,}"
        )
    total = positives * per_positive + negatives * negative_per_query
    if total > MAX_RESULTS_PER_CRAWL:
        raise ValueError(
            f"the crawl asks for {total:,} results in all, more than the maximum of "
            f"{MAX_RESULTS_PER_CRAWL:,}; use fewer queries or pages, or several datasets"
        )
    return total
