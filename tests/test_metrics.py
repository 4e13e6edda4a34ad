"""GET /metrics: admins only, and the figures it shows move with the traffic."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from service.app import create_app
from service.config import AbuseSettings
from service.metrics import AUTH_CACHE, REGISTRY, FastCounter, FastHistogram
from tests.support.api import ADMIN_PASSWORD


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_seen(method: str, route: str, status: int) -> float:
    return sample("mrsm_http_requests_total", method=method, route=route, status=str(status))


def auth_seen(kind: str, result: str) -> float:
    return sample("mrsm_auth_results_total", kind=kind, result=result)


async def test_metrics_need_a_credential(client):
    resp = await client.get("/metrics")
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthorized"


async def test_metrics_refuse_a_regular_user(client, user_headers):
    resp = await client.get("/metrics", headers=user_headers)
    assert resp.status == 403
    assert (await resp.json())["error"] == "insufficient_scope"


async def test_metrics_refuse_an_admin_token_narrowed_without_read_users(client, api,
                                                                          admin_headers):
    token = await api.create_token(admin_headers, scopes=["read:tokens"])
    resp = await client.get("/metrics", headers={"Authorization": token["api_key"]})
    assert resp.status == 403


async def test_metrics_for_an_admin_bearer_and_api_key(client, api, admin_headers):
    resp = await client.get("/metrics", headers=admin_headers)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    for name in ("mrsm_http_requests_total", "mrsm_http_request_duration_seconds_bucket",
                 "mrsm_auth_results_total", "mrsm_auth_cache_total",
                 'mrsm_db_pool_connections{state="idle"}',
                 'mrsm_db_pool_connections{state="in_use"}', "mrsm_db_pool_max_connections 4.0",
                 "mrsm_db_pool_size ", "mrsm_db_pool_waiting 0.0",
                 "mrsm_auth_cache_enabled 1.0", "process_resident_memory_bytes"):
        assert name in text
    token = await api.create_token(admin_headers, label="scraper")
    resp = await client.get("/metrics", headers={"Authorization": token["api_key"]})
    assert resp.status == 200


async def test_requests_are_counted_by_route_pattern_and_status(client, api, admin_headers):
    token = await api.create_token(admin_headers)
    before_ok = requests_seen("GET", "/tokens/{id}", 200)
    before_missing = requests_seen("GET", "/tokens/{id}", 404)
    before_latency = sample("mrsm_http_request_duration_seconds_count",
                            method="GET", route="/tokens/{id}")
    assert (await client.get(f"/tokens/{token['id']}", headers=admin_headers)).status == 200
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await client.get(f"/tokens/{missing}", headers=admin_headers)).status == 404
    assert requests_seen("GET", "/tokens/{id}", 200) == before_ok + 1
    assert requests_seen("GET", "/tokens/{id}", 404) == before_missing + 1
    assert sample("mrsm_http_request_duration_seconds_count",
                  method="GET", route="/tokens/{id}") == before_latency + 2


async def test_unknown_paths_and_methods_cannot_mint_labels(client, admin_headers):
    before = requests_seen("GET", "(unmatched)", 404)
    assert (await client.get("/random-1234", headers=admin_headers)).status == 404
    assert requests_seen("GET", "(unmatched)", 404) == before + 1
    resp = await client.request("PROPFIND", "/healthz")
    assert resp.status == 405
    text = await (await client.get("/metrics", headers=admin_headers)).text()
    assert "random-1234" not in text
    assert "PROPFIND" not in text
    assert 'method="OTHER"' in text


async def test_authentication_results_by_kind(client, api, admin_headers):
    token = await api.create_token(admin_headers, label="counted")
    before = {(k, r): auth_seen(k, r)
              for k in ("api_key", "jwt", "password", "client_credentials")
              for r in ("ok", "refused")}

    assert (await client.get("/users/me", headers={"Authorization": token["api_key"]})).status \
        == 200
    assert (await client.get("/users/me", headers=admin_headers)).status == 200
    bad_key = token["api_key"][:-4] + "AAAA"
    assert (await client.get("/users/me", headers={"Authorization": bad_key})).status == 401
    assert (await client.get("/users/me",
                             headers={"Authorization": "Bearer not.a.jwt"})).status == 401
    resp = await client.post("/login", data={"grant_type": "password", "username": "admin",
                                             "password": "wrong-password"})
    assert resp.status == 400
    await api.login("admin", ADMIN_PASSWORD)
    await api.client_credentials(token)
    resp = await client.post("/login", data={"grant_type": "client_credentials",
                                             "client_id": token["id"],
                                             "client_secret": "x" * 49})
    assert resp.status == 401

    delta = {key: auth_seen(*key) - value for key, value in before.items()}
    assert delta == {
        ("api_key", "ok"): 1, ("api_key", "refused"): 1,
        ("jwt", "ok"): 1, ("jwt", "refused"): 1,
        ("password", "ok"): 1, ("password", "refused"): 1,
        ("client_credentials", "ok"): 1, ("client_credentials", "refused"): 1,
    }


async def test_the_cache_counter_is_exposed_with_hit_and_miss(client, admin_headers):
    AUTH_CACHE.labels(result="hit")  # make sure both series exist, whoever counts first
    AUTH_CACHE.labels(result="miss")
    text = await (await client.get("/metrics", headers=admin_headers)).text()
    assert 'mrsm_auth_cache_total{result="hit"}' in text
    assert 'mrsm_auth_cache_total{result="miss"}' in text


async def test_public_routes_and_missing_credentials_are_not_auth_results(client):
    before = sum(auth_seen(k, r) for k in ("api_key", "jwt") for r in ("ok", "refused"))
    assert (await client.get("/healthz", headers={"Authorization": "Bearer junk"})).status \
        == 200
    assert (await client.get("/tokens")).status == 401
    after = sum(auth_seen(k, r) for k in ("api_key", "jwt") for r in ("ok", "refused"))
    assert after == before


def test_the_fast_histogram_exports_cumulative_buckets_sum_and_count():
    registry = CollectorRegistry()
    histogram = FastHistogram("t_seconds", "test", ["route"], buckets=(0.1, 1.0),
                              registry=registry)
    child = histogram.labels(route="/x")
    for seconds in (0.05, 0.1, 0.5, 2.0):
        histogram.observe(child, seconds)
    value = lambda suffix, **labels: registry.get_sample_value(  # noqa: E731
        f"t_seconds{suffix}", {"route": "/x", **labels})
    assert value("_bucket", le="0.1") == 2  # an observation on a bound is in that bucket
    assert value("_bucket", le="1.0") == 3
    assert value("_bucket", le="+Inf") == 4
    assert value("_count") == 4
    assert value("_sum") == 2.65


def test_the_fast_counter_renders_like_a_prometheus_counter():
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = FastCounter("t_things", "things counted", ["kind"], registry=ours)
    reference = Counter("t_things", "things counted", ["kind"], registry=theirs)
    for labelled in (counter, reference):
        labelled.labels(kind="a").inc()
        labelled.labels("a").inc(2)
    text = generate_latest(ours).decode()
    assert 't_things_total{kind="a"} 3.0' in text
    assert text == "\n".join(line for line in generate_latest(theirs).decode().splitlines()
                             if "_created" not in line) + "\n"


async def test_throttled_logins_and_api_keys_are_counted_as_throttled(aiohttp_client, api,
                                                                    make_settings):
    settings = make_settings(abuse=AbuseSettings(throttle_enabled=True, pair_failures=2,
                                                 source_failures=3))
    client = await aiohttp_client(create_app(settings))
    api.client = client
    await api.create_user("dave")
    before = {k: auth_seen(k, "throttled") for k in ("password", "api_key")}
    statuses = []
    for _ in range(3):
        resp = await client.post("/login", data={"grant_type": "password", "username": "dave",
                                                 "password": "wrong-password"})
        statuses.append(resp.status)
    assert statuses[-1] == 429
    assert auth_seen("password", "throttled") - before["password"] == statuses.count(429)
    # Bad API keys from the same address use up its budget: refused, then throttled.
    key_statuses = []
    for _ in range(4):
        resp = await client.get("/users/me", headers={"Authorization": "mrsm-key:" + "A" * 80})
        key_statuses.append(resp.status)
    assert key_statuses[-1] == 429 and set(key_statuses) == {401, 429}
    assert auth_seen("api_key", "throttled") - before["api_key"] == key_statuses.count(429)
