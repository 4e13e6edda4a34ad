"""The abuse limits' environment variables."""

from __future__ import annotations

import ipaddress

import pytest

from service.config import AbuseSettings, ConfigError, Settings


def test_defaults_are_documented_values():
    s = Settings.from_env({}).abuse
    assert s == AbuseSettings()
    assert (s.throttle_enabled, s.window_seconds, s.pair_failures, s.account_failures,
            s.source_failures, s.penalty_seconds) == (True, 900, 5, 50, 100, 300)
    assert s.trusted_proxy_header is None and s.trusted_proxies == ()


def test_every_variable_is_read():
    s = Settings.from_env({
        "THROTTLE_ENABLED": "off", "THROTTLE_WINDOW_SECONDS": "60",
        "THROTTLE_PAIR_FAILURES": "3", "THROTTLE_ACCOUNT_FAILURES": "30",
        "THROTTLE_SOURCE_FAILURES": "40", "THROTTLE_PENALTY_SECONDS": "10",
        "TRUSTED_PROXY_HEADER": "X-Forwarded-For",
        "TRUSTED_PROXIES": "10.0.0.0/8, ::1, 192.0.2.1",
    }).abuse
    assert not s.throttle_enabled
    assert (s.window_seconds, s.pair_failures, s.account_failures, s.source_failures,
            s.penalty_seconds) == (60, 3, 30, 40, 10)
    assert s.trusted_proxy_header == "X-Forwarded-For"
    assert s.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                 ipaddress.ip_network("::1/128"),
                                 ipaddress.ip_network("192.0.2.1/32"))


@pytest.mark.parametrize("env, message", [
    ({"THROTTLE_PAIR_FAILURES": "0"}, "THROTTLE_PAIR_FAILURES must be at least 1"),
    ({"THROTTLE_PENALTY_SECONDS": "soon"}, "THROTTLE_PENALTY_SECONDS must be an integer"),
    ({"TRUSTED_PROXY_HEADER": "X-Forwarded-For"}, "needs TRUSTED_PROXIES"),
    ({"TRUSTED_PROXIES": "10.0.0.1/8"}, "not a network"),
    ({"TRUSTED_PROXIES": "proxy.example"}, "not a network"),
])
def test_bad_values_are_config_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_redis_url_is_read_and_checked():
    assert Settings.from_env({}).abuse.redis_url is None
    s = Settings.from_env({"REDIS_URL": " redis://127.0.0.1:6379/2 "}).abuse
    assert s.redis_url == "redis://127.0.0.1:6379/2"
    assert s.redis_prefix == "mrsm:throttle:"
    with pytest.raises(ConfigError, match="REDIS_URL must start with redis://"):
        Settings.from_env({"REDIS_URL": "127.0.0.1:6379"})
