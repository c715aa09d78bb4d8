"""The app's Prometheus metrics: what `execute-query` does, counted where it happens.

`QueryMetrics` holds the counters and histograms the page step updates (pages,
records, provider answers, rate limits and back-offs); the figures kept in the
query store (queries by status, budgets used) are read at scrape time by the
`/metrics` route (`api/routes/metrics.py`). docs/operations.md lists them all.

Labels stay few and bounded: a source's name, a credential's id (it names the
environment variable or the source, never the secret), an HTTP status code. No
query id is ever a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from .probes import Metrics
from .queries.model import PageSaved

__all__ = ["NO_STATUS", "QueryMetrics"]

#: The `code` of a provider request that got no HTTP status (network error, timeout).
NO_STATUS = "none"


class QueryMetrics(Metrics):
    """One app's registry, with the counters of its queries' pages."""

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.pages = Counter(
            "pagerunner_pages_fetched", "Pages fetched and stored", ["source"], registry=r
        )
        self.records = Counter(
            "pagerunner_records_fetched", "Records in the pages stored", ["source"], registry=r
        )
        self.records_new = Counter(
            "pagerunner_records_new",
            "Records stored for the first time (not seen before on their source)",
            ["source"],
            registry=r,
        )
        self.responses = Counter(
            "pagerunner_provider_responses",
            f"Provider answers by HTTP status (`{NO_STATUS}`: no answer, e.g. a timeout)",
            ["source", "code"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "pagerunner_provider_request_duration_seconds",
            "How long a provider took to answer a page request",
            ["source"],
            registry=r,
        )
        self.rate_limited = Counter(
            "pagerunner_rate_limited",
            "Rate-limit answers (429) per credential, and whether the query waited or paused",
            ["credential", "action"],
            registry=r,
        )
        self.backoffs = Counter(
            "pagerunner_credential_backoffs",
            "Back-offs that made every query on a credential wait: after a 429 "
            "(rate_limited) or when the provider's headers said the window is spent",
            ["credential", "reason"],
            registry=r,
        )

    def answered(self, source: str, status: int | None, seconds: float) -> None:
        """A provider request of `source` ended (`status` None: no HTTP answer)."""
        self.responses.labels(source, str(status) if status else NO_STATUS).inc()
        self.request_seconds.labels(source).observe(seconds)

    def stored(self, source: str, saved: PageSaved) -> None:
        """A page step of `source` ended; a page stored before (a replay) is not counted."""
        if not saved.replayed:
            self.pages.labels(source).inc()
            self.records.labels(source).inc(saved.records)
            self.records_new.labels(source).inc(saved.inserted)
