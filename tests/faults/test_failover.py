"""A multi-host DATABASE_URL (libpq syntax) whose first host is down: the pool, the
migrations and the revocation listener all find the writable one."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tests.support.fleet import metric, new_token, seconds_until_refused, status
from tests.support.servers import free_port


def with_a_dead_first_host(dsn: str) -> str:
    parts = urlsplit(dsn)
    user, _, host = parts.netloc.rpartition("@")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: connections are refused
    return urlunsplit(parts._replace(netloc=f"{user}@{dead},{host}" if user else f"{dead},{host}",
                                     query="target_session_attrs=read-write"))


def test_the_service_works_when_the_first_host_of_its_url_is_down(database_url,
                                                                   start_service):
    url = with_a_dead_first_host(database_url)
    service = start_service(url)
    other = start_service(database_url)  # a second instance on the plain URL
    admin = service.bearer()
    assert service.request("GET", "/readyz").status == 200
    token = new_token(service, admin)
    for _ in range(2):
        assert status(service, token["api_key"]) == 200
    assert metric(service, admin, "mrsm_auth_cache_enabled") == 1  # the listener hears
    resp = other.request("POST", f"/tokens/{token['id']}/invalidate", headers=other.bearer())
    assert resp.status == 200, resp.body
    assert seconds_until_refused(service, [token["api_key"]]) < 1.0
