"""Prometheus metrics: what the service counts, and GET /metrics (admins only).

The counters live in one registry per process (`REGISTRY`): a metric is a process-wide
fact, like the log. Per request the service does only dictionary look-ups and counter
increments here (`observe_request`); everything else (the pool gauge, process figures,
the text rendering) is computed when someone scrapes /metrics.

With several worker processes each has its own counters; scrape each one, or run one
process per container as the Dockerfile does.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from service import keys
from service.auth.scopes import requires
from service.openapi import doc

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # memory, CPU, open files: read at scrape time

REQUESTS = Counter(
    "mrsm_http_requests_total",
    "HTTP requests answered, by method, route pattern and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "mrsm_http_request_duration_seconds",
    "Time from the request reaching the service to its response, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
AUTH = Counter(
    "mrsm_auth_results_total",
    "Authentication attempts by credential kind (api_key, jwt, password, client_credentials) "
    "and result (ok, refused, throttled).",
    ["kind", "result"],
    registry=REGISTRY,
)
# The verified-credential cache calls AUTH_CACHE.labels(result="hit" | "miss").inc().
AUTH_CACHE = Counter(
    "mrsm_auth_cache_total",
    "Look-ups in the verified-credential cache, by result (hit, miss).",
    ["result"],
    registry=REGISTRY,
)

AUTH_KINDS = ("api_key", "jwt", "password", "client_credentials")
AUTH_RESULTS = ("ok", "refused", "throttled")
# Methods outside this set are counted as OTHER: a client must not be able to mint labels.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"

# Children of the labelled metrics, cached so a request costs two dict look-ups rather than
# two `labels()` calls (each takes a lock and validates its arguments).
_request_children: dict[tuple[str, str, int], tuple] = {}
_auth_children: dict[tuple[str, str], Counter] = {
    (kind, result): AUTH.labels(kind=kind, result=result)
    for kind in AUTH_KINDS for result in AUTH_RESULTS
}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency. `route` is a pattern, never a raw path."""
    children = _request_children.get((method, route, status))
    if children is None:
        label = method if method in _METHODS else "OTHER"
        children = (REQUESTS.labels(method=label, route=route, status=str(status)),
                    LATENCY.labels(method=label, route=route))
        if method in _METHODS:  # only known methods are cached: the cache stays bounded
            _request_children[(method, route, status)] = children
    children[0].inc()
    children[1].observe(seconds)


def record_auth(kind: str, result: str) -> None:
    """Count an authentication result: kind in AUTH_KINDS, result in AUTH_RESULTS."""
    _auth_children[(kind, result)].inc()


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
        yield GaugeMetricFamily("mrsm_db_pool_max_connections",
                                "The pool's maximum size (DB_POOL_MAX).",
                                value=self._pool.get_max_size())


def render(pool: asyncpg.Pool | None) -> bytes:
    """The Prometheus text exposition of every metric, with the pool's gauges."""
    text = generate_latest(REGISTRY)
    if pool is not None:
        # The pool belongs to the application, not the process: a throwaway registry per scrape.
        per_app = CollectorRegistry(auto_describe=False)
        per_app.register(_PoolCollector(pool))
        text += generate_latest(per_app)
    return text


routes = web.RouteTableDef()


@routes.get("/metrics")
@requires("read:users")  # an admin-only scope: an admin's bearer or API key, nobody else
@doc("Prometheus metrics (admins only: needs read:users)", tag="meta",
     responses={200: ("text/plain", {"type": "string"})})
async def metrics(request: web.Request) -> web.Response:
    body = render(request.app.get(keys.POOL))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4,
                                            "Cache-Control": "no-store"})
