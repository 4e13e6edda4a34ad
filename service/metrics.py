"""Prometheus metrics: what the service counts, rendered for GET /metrics (service.meta).

The counters live in one registry per process (`REGISTRY`): a metric is a process-wide
fact, like the log. Per request the service does only dictionary look-ups and integer
increments here (`observe_request`): the counters are plain integers, not
prometheus_client's locked values, and everything else (cumulating the histogram, the pool
gauge, process figures, the text rendering) is done when someone scrapes /metrics.

With several worker processes each has its own counters; scrape each one, or run one
process per container as the Dockerfile does.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

import asyncpg
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.utils import floatToGoString


class _Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class _Latency:
    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size  # per bucket, the last for +Inf; cumulated at scrape time
        self.sum = 0.0


class FastCounter:
    """A labelled counter kept as plain integers and turned into Prometheus samples only when
    scraped. Same calls as prometheus_client's Counter (`.labels(...).inc()`), without its
    per-increment lock: only the event loop's thread counts, and it also serves the scrape."""

    def __init__(self, name: str, documentation: str, labelnames: list[str],
                 registry: CollectorRegistry) -> None:
        self._name, self._doc, self._labelnames = name, documentation, tuple(labelnames)
        self._children: dict[tuple[str, ...], _Count] = {}
        registry.register(self)

    def labels(self, *values: str, **by_name: str) -> _Count:
        key = tuple(values) or tuple(str(by_name[n]) for n in self._labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = _Count()
        return child

    def describe(self):
        return [CounterMetricFamily(self._name, self._doc, labels=self._labelnames)]

    def collect(self):
        family = CounterMetricFamily(self._name, self._doc, labels=self._labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(list(key), child.value)
        yield family


class FastHistogram:
    """A labelled histogram on the same terms as FastCounter (`.labels(...).observe(s)`)."""

    def __init__(self, name: str, documentation: str, labelnames: list[str],
                 buckets: tuple[float, ...], registry: CollectorRegistry) -> None:
        self._name, self._doc, self._labelnames = name, documentation, tuple(labelnames)
        self._bounds = buckets
        self._children: dict[tuple[str, ...], _Latency] = {}
        registry.register(self)

    def labels(self, *values: str, **by_name: str) -> _Latency:
        key = tuple(values) or tuple(str(by_name[n]) for n in self._labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = _Latency(len(self._bounds) + 1)
        return child

    def observe(self, child: _Latency, seconds: float) -> None:
        child.counts[bisect_left(self._bounds, seconds)] += 1
        child.sum += seconds

    def describe(self):
        return [HistogramMetricFamily(self._name, self._doc, labels=self._labelnames)]

    def collect(self):
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labelnames)
        names = [floatToGoString(b) for b in self._bounds] + ["+Inf"]
        for key, child in list(self._children.items()):
            cumulative = list(accumulate(child.counts))
            family.add_metric(list(key), list(zip(names, cumulative, strict=True)),
                              sum_value=child.sum)
        yield family


REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # memory, CPU, open files: read at scrape time

REQUESTS = FastCounter(
    "mrsm_http_requests",
    "HTTP requests answered, by method, route pattern and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = FastHistogram(
    "mrsm_http_request_duration_seconds",
    "Time from the request reaching the service to its response, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
AUTH = FastCounter(
    "mrsm_auth_results",
    "Authentication attempts by credential kind (api_key, jwt, password, client_credentials) "
    "and result (ok, refused, throttled).",
    ["kind", "result"],
    registry=REGISTRY,
)
# The verified-credential cache counts its own hits and misses (two integers, no per-request
# metric call); GET /metrics copies them into AUTH_CACHE when scraped.
AUTH_CACHE = FastCounter(
    "mrsm_auth_cache",
    "Look-ups in the verified-credential cache, by result (hit, miss).",
    ["result"],
    registry=REGISTRY,
)

# The database outages this process saw (service.errors.Outage), and the requests they cost.
DB_OUTAGES = FastCounter(
    "mrsm_db_outages",
    "Times the database stopped answering (each logged once when it starts and when it ends).",
    [],
    registry=REGISTRY,
).labels()
DB_UNAVAILABLE_REFUSED = FastCounter(
    "mrsm_db_unavailable_refused_requests",
    "Requests answered 503 because the database did not answer or refused a connection.",
    [],
    registry=REGISTRY,
).labels()

AUTH_KINDS = ("api_key", "jwt", "password", "client_credentials")
AUTH_RESULTS = ("ok", "refused", "throttled")
# Methods outside this set are counted as OTHER: a client must not be able to mint labels.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"

_auth_children: dict[tuple[str, str], _Count] = {
    (kind, result): AUTH.labels(kind, result) for kind in AUTH_KINDS for result in AUTH_RESULTS
}


class RequestMetrics:
    """The request counter and latency histogram of one (method, route pattern, status):
    made once per kind of answer (service.observability keeps them), so a request costs an
    integer increment and a bisect."""

    __slots__ = ("count", "latency")

    def __init__(self, method: str, route: str, status: int) -> None:
        label = method if method in KNOWN_METHODS else "OTHER"
        self.count = REQUESTS.labels(label, route, str(status))
        self.latency = LATENCY.labels(label, route)

    def observe(self, seconds: float) -> None:
        self.count.value += 1
        LATENCY.observe(self.latency, seconds)


def auth_count(kind: str, result: str) -> _Count:
    """The counter of one (kind, result), for a hot path that counts without a call."""
    return _auth_children[(kind, result)]


def record_auth(kind: str, result: str) -> None:
    """Count an authentication result: kind in AUTH_KINDS, result in AUTH_RESULTS."""
    _auth_children[(kind, result)].value += 1


class _PoolCollector:
    """The connection pool's figures, read when /metrics is scraped."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def collect(self):
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        connections = GaugeMetricFamily(
            "mrsm_db_pool_connections",
            "Open database connections in this process's pool, by state.",
            labels=["state"],
        )
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        yield connections
        yield GaugeMetricFamily("mrsm_db_pool_size",
                                "Open database connections in this process's pool.",
                                value=size)
        yield GaugeMetricFamily("mrsm_db_pool_max_connections",
                                "The pool's maximum size (DB_POOL_MAX).",
                                value=self._pool.get_max_size())
        yield GaugeMetricFamily("mrsm_db_pool_waiting",
                                "Requests waiting for a connection from this process's pool.",
                                value=getattr(self._pool, "waiting", 0))


CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class _CacheCollector:
    """Whether the credential cache is trusted now (the revocation listener hears)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def collect(self):
        yield GaugeMetricFamily(
            "mrsm_auth_cache_enabled",
            "1 while the revocation listener hears (the credential cache is used), else 0.",
            value=int(self._enabled))


def render_metrics(pool: asyncpg.Pool | None, cache_hits: int, cache_misses: int,
                   cache_enabled: bool | None = None) -> bytes:
    """The Prometheus text exposition of every metric, with the pool's gauges and the
    credential cache's counts and state."""
    AUTH_CACHE.labels(result="hit").value = cache_hits
    AUTH_CACHE.labels(result="miss").value = cache_misses
    text = generate_latest(REGISTRY)
    # The pool and the cache belong to the application, not the process: a throwaway
    # registry per scrape.
    per_app = CollectorRegistry(auto_describe=False)
    if pool is not None:
        per_app.register(_PoolCollector(pool))
    if cache_enabled is not None:
        per_app.register(_CacheCollector(cache_enabled))
    return text + generate_latest(per_app)
