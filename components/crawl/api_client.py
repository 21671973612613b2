"""HTTP client for search APIs: User-Agent with contact, pacing, retries on 429/5xx."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from nolabel.components.common.errors import ConfigurationError, InputError

RETRY_STATUSES = {429, 500, 502, 503, 504}


class TokenBucket:
    """At most ``rate`` requests per second on average, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int = 1, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.burst = float(rate), max(1, int(burst))
        self._clock, self._sleep = clock, sleep
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; return the time slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return wait


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds named by a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def user_agent(contact: str) -> str:
    """The User-Agent every crawl request sends."""
    return f"nolabel-crawl/0.1 (+{contact})" if contact else "nolabel-crawl/0.1"


class ApiClient:
    """A paced, retrying JSON client for one provider."""

    def __init__(
        self,
        provider: str,
        contact: str,
        rate_per_second: float,
        burst: int = 1,
        retries: int = 4,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        self.provider = provider
        self.bucket = TokenBucket(rate_per_second, burst)
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self.client = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": user_agent(contact), "Accept": "application/json"},
            follow_redirects=True,
            trust_env=False,
        )

    def request_json(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request (paced), retrying 429/5xx and network errors; return parsed JSON."""
        attempt = 0
        while True:
            self.bucket.acquire()
            try:
                response = self.client.request(
                    method, url, params=params, headers=headers, data=data
                )
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise ConfigurationError(
                        f"{self.provider}: cannot reach {url}: {type(exc).__name__}: {exc}"
                    ) from None
                self._pause(attempt, None)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                self._pause(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            if response.status_code in (401, 403):
                raise ConfigurationError(
                    f"{self.provider}: {response.status_code} from {url} (check credentials): "
                    f"{response.text[:200]}"
                )
            if response.status_code >= 400:
                raise InputError(
                    f"{self.provider}: HTTP {response.status_code} from {url}: "
                    f"{response.text[:200]}"
                )
            try:
                return response.json()
            except ValueError:
                raise InputError(f"{self.provider}: {url} did not return JSON") from None

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = retry_after_seconds(retry_after, self.backoff * 2**attempt)
        time.sleep(min(delay, self.max_wait))

    def close(self) -> None:
        """Close the underlying connection pool."""
        self.client.close()
