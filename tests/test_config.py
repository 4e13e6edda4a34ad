"""Settings.from_env: defaults, parsing, and the errors that stop a bad start early."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import PROJECT_ROOT, ConfigError, Settings

GOOD_SECRET = "s" * 32


@pytest.fixture(autouse=True)
def clean_tables():
    """Unit tests: no database, so nothing to clean (and none is started for them)."""


def test_defaults_from_an_empty_environment():
    s = Settings.from_env({})
    assert s.database_url is None
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.admin_username is None and s.admin_password is None
    assert s.jwt_secret is None and s.jwt_ttl_seconds == 900
    assert s.token_default_ttl_days == 366 and s.token_max_ttl_days is None
    assert (s.argon2_time_cost, s.argon2_memory_cost, s.argon2_parallelism) == (3, 65536, 4)
    assert s.data_dir == PROJECT_ROOT / ".data"
    assert s.migrations_dir == PROJECT_ROOT / "migrations"
    assert s.log_level == "INFO" and s.access_log is True
    assert (s.ingest_max_rows, s.ingest_max_delay_ms) == (10_000, 0)
    assert s == Settings.from_env({"PORT": "", "HOST": "", "JWT_TTL_SECONDS": "  "})


def test_every_documented_variable_is_read():
    s = Settings.from_env({
        "DATABASE_URL": "postgresql://u:p@db:5432/x",
        "HOST": "0.0.0.0",
        "PORT": "9001",
        "ADMIN_USERNAME": "root",
        "ADMIN_PASSWORD": "root-password",
        "JWT_SECRET": GOOD_SECRET,
        "JWT_TTL_SECONDS": "60",
        "TOKEN_DEFAULT_TTL_DAYS": "30",
        "TOKEN_MAX_TTL_DAYS": "90",
        "ARGON2_TIME_COST": "2",
        "ARGON2_MEMORY_COST": "1024",
        "ARGON2_PARALLELISM": "1",
        "DATA_DIR": "/tmp/somewhere",
        "LOG_LEVEL": "debug",
        "ACCESS_LOG": "false",
        "INGEST_MAX_ROWS": "500",
        "INGEST_MAX_DELAY_MS": "5",
    })
    assert s.database_url == "postgresql://u:p@db:5432/x"
    assert (s.host, s.port) == ("0.0.0.0", 9001)
    assert (s.admin_username, s.admin_password) == ("root", "root-password")
    assert s.jwt_secret == GOOD_SECRET and s.jwt_ttl_seconds == 60
    assert (s.token_default_ttl_days, s.token_max_ttl_days) == (30, 90)
    assert (s.argon2_time_cost, s.argon2_memory_cost, s.argon2_parallelism) == (2, 1024, 1)
    assert s.data_dir == Path("/tmp/somewhere")
    assert s.log_level == "DEBUG" and s.access_log is False
    assert (s.ingest_max_rows, s.ingest_max_delay_ms) == (500, 5)


def test_the_settings_for_many_hosts():
    direct = "postgresql://u@db1:5432,db2:5432/x?target_session_attrs=read-write"
    s = Settings.from_env({})
    assert s.listen_database_url is None and s.listen_url == ""
    assert s.db_statement_cache_size == 100 and s.abuse.rate_limit_instances == 1
    s = Settings.from_env({"DATABASE_URL": "postgresql://u@pgbouncer:6432/x"})
    assert s.listen_url == "postgresql://u@pgbouncer:6432/x"  # LISTEN_DATABASE_URL unset
    assert s.db_statement_cache_size == 100
    # A listener of its own means a pooler in front of DATABASE_URL: no statement cache,
    # unless one is asked for.
    pooled = {"DATABASE_URL": "postgresql://u@pgbouncer:6432/x", "LISTEN_DATABASE_URL": direct}
    assert Settings.from_env(pooled).db_statement_cache_size == 0
    assert Settings.from_env({**pooled, "DB_STATEMENT_CACHE_SIZE": "50"}
                             ).db_statement_cache_size == 50
    same = {"DATABASE_URL": direct, "LISTEN_DATABASE_URL": direct}
    assert Settings.from_env(same).db_statement_cache_size == 100
    s = Settings.from_env({
        "DATABASE_URL": "postgresql://u@pgbouncer:6432/x",
        "LISTEN_DATABASE_URL": f" {direct} ",
        "DB_STATEMENT_CACHE_SIZE": "0", "RATE_LIMIT_INSTANCES": "50",
        "REDIS_PREFIX": "prod:mrsm:"})
    assert s.listen_url == direct
    assert s.db_statement_cache_size == 0
    assert s.abuse.rate_limit_instances == 50 and s.abuse.redis_prefix == "prod:mrsm:"


def test_integers_tolerate_surrounding_spaces():
    assert Settings.from_env({"PORT": " 8080 "}).port == 8080


def test_lifecycle_settings():
    default = Settings.from_env({})
    assert (default.track_sources, default.token_expiry_warning_days,
            default.leak_reports_per_hour) == (True, 7, 60)
    s = Settings.from_env({"TRACK_SOURCES": " off ", "TOKEN_EXPIRY_WARNING_DAYS": "14",
                           "LEAK_REPORTS_PER_HOUR": "0"})
    assert (s.track_sources, s.token_expiry_warning_days, s.leak_reports_per_hour) == (
        False, 14, 0)
    assert Settings.from_env({"TRACK_SOURCES": "1"}).track_sources is True


@pytest.mark.parametrize("value", ["0", "false", "no", "FALSE", " No "])
def test_access_log_off(value):
    assert Settings.from_env({"ACCESS_LOG": value}).access_log is False


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"), ("PORT", "80.5"), ("PORT", "-1"), ("PORT", "65536"), ("PORT", "1e3"),
    ("JWT_TTL_SECONDS", "0"), ("JWT_TTL_SECONDS", "-5"), ("JWT_TTL_SECONDS", "15m"),
    ("JWT_TTL_SECONDS", "99999999999"),
    ("TOKEN_DEFAULT_TTL_DAYS", "0"), ("TOKEN_DEFAULT_TTL_DAYS", "x"),
    ("TOKEN_DEFAULT_TTL_DAYS", "999999999"),
    ("TOKEN_MAX_TTL_DAYS", "0"), ("TOKEN_MAX_TTL_DAYS", "-30"), ("TOKEN_MAX_TTL_DAYS", "1y"),
    ("TOKEN_MAX_TTL_DAYS", "999999999"),
    ("ARGON2_TIME_COST", "0"), ("ARGON2_MEMORY_COST", "7"), ("ARGON2_PARALLELISM", "0"),
    ("ARGON2_MEMORY_COST", "lots"),
    ("WORKERS", "0"), ("HASH_WORKERS", "0"), ("DB_POOL_MAX", "0"),
    ("LOG_LEVEL", "LOUD"),
    ("DB_STATEMENT_CACHE_SIZE", "-1"), ("DB_STATEMENT_CACHE_SIZE", "none"),
    ("RATE_LIMIT_INSTANCES", "0"), ("RATE_LIMIT_INSTANCES", "two"),
    ("LISTEN_DATABASE_URL", "db:5432/x"), ("LISTEN_DATABASE_URL", "mysql://db/x"),
    ("REDIS_PREFIX", "has space"), ("REDIS_PREFIX", "a{b}"), ("REDIS_PREFIX", "x" * 101),
    ("JWT_ALGORITHM", "RS256"), ("JWT_ALGORITHM", "none"), ("JWT_KEY_ROTATION_DAYS", "-1"),
    ("JWT_KEY_ROTATION_DAYS", "ninety"), ("KEY_ENCRYPTION_KEY", "short"),
    ("ISSUER_URL", "auth.example.com"), ("ISSUER_URL", "ftp://auth.example.com"),
    ("ISSUER_URL", "https://auth.example.com/?x=1"), ("ISSUER_URL", "https://a.test/#f"),
    ("ISSUER_URL", "https://"),
    ("INGEST_MAX_ROWS", "0"), ("INGEST_MAX_DELAY_MS", "-1"), ("INGEST_MAX_DELAY_MS", "1001"),
    ("TRACK_SOURCES", "maybe"), ("TOKEN_EXPIRY_WARNING_DAYS", "-1"),
    ("TOKEN_EXPIRY_WARNING_DAYS", "a week"), ("LEAK_REPORTS_PER_HOUR", "-1"),
    ("LEAK_REPORTS_PER_HOUR", "lots"),
])
def test_bad_values_are_config_errors_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: value})
    assert name in str(err.value)


def test_signing_and_issuer_settings():
    s = Settings.from_env({})
    assert (s.jwt_algorithm, s.jwt_key_rotation_days, s.key_encryption_key) == ("EdDSA", 90,
                                                                                None)
    assert s.issuer == s.audience == "http://127.0.0.1:8000"
    assert Settings.from_env({"HOST": "::1", "PORT": "9000"}).issuer == "http://[::1]:9000"
    s = Settings.from_env({"JWT_ALGORITHM": "es256", "JWT_KEY_ROTATION_DAYS": "0",
                           "KEY_ENCRYPTION_KEY": "k" * 32,
                           "ISSUER_URL": "https://auth.example.com/mrsm/",
                           "JWT_AUDIENCE": "pipes-api"})
    assert (s.jwt_algorithm, s.jwt_key_rotation_days) == ("ES256", 0)
    assert s.key_encryption_key == "k" * 32
    assert s.issuer == s.jwt_issuer == "https://auth.example.com/mrsm"  # no trailing slash
    assert s.audience == "pipes-api"


def test_admin_username_and_password_go_together():
    for env in ({"ADMIN_USERNAME": "root"}, {"ADMIN_PASSWORD": "root-password"}):
        with pytest.raises(ConfigError, match="ADMIN_USERNAME and ADMIN_PASSWORD"):
            Settings.from_env(env)


@pytest.mark.parametrize(("username", "password", "bad"), [
    ("bad name", "root-password", "ADMIN_USERNAME"),
    ("me", "root-password", "ADMIN_USERNAME"),
    ("x" * 61, "root-password", "ADMIN_USERNAME"),
    ("root\n", "root-password", "ADMIN_USERNAME"),
    ("root", "short", "ADMIN_PASSWORD"),
    ("root", "x" * 1025, "ADMIN_PASSWORD"),
])
def test_admin_credentials_follow_the_user_rules(username, password, bad):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"ADMIN_USERNAME": username, "ADMIN_PASSWORD": password})
    assert bad in str(err.value)
    # The secret itself is never echoed in the message.
    assert password not in str(err.value) or bad == "ADMIN_USERNAME"


def test_jwt_secret_needs_256_bits():
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings.from_env({"JWT_SECRET": "s" * 31})
    # Bytes, not characters: 11 three-byte characters are 33 bytes.
    assert Settings.from_env({"JWT_SECRET": "€" * 11}).jwt_secret == "€" * 11
    assert Settings.from_env({"JWT_SECRET": GOOD_SECRET}).jwt_secret == GOOD_SECRET


def test_max_smaller_than_default_is_allowed():
    s = Settings.from_env({"TOKEN_DEFAULT_TTL_DAYS": "366", "TOKEN_MAX_TTL_DAYS": "30"})
    assert (s.token_default_ttl_days, s.token_max_ttl_days) == (366, 30)


def test_settings_are_frozen():
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_from_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("TOKEN_MAX_TTL_DAYS", "12")
    s = Settings.from_env()
    assert s.port == 8123 and s.token_max_ttl_days == 12
