"""Settings, read once from the environment and passed to `create_app`."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from service.envparse import ConfigError, env_int
from service.validation import RESERVED_USERNAMES, USERNAME_PATTERN

PROJECT_ROOT = Path(__file__).resolve().parent.parent


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Braces are Redis Cluster's hash tags, which the store's key names use themselves.
_PREFIX = re.compile(r"[!-z|~]{1,100}")


def parse_networks(raw: str, name: str = "TRUSTED_PROXIES") -> tuple[Network, ...]:
    """A comma-separated list of CIDRs (a bare address is a /32 or /128)."""
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError:
            raise ValueError(f"{name}: {part!r} is not a network in CIDR notation") from None
    return tuple(networks)


@dataclass(frozen=True)
class AbuseSettings:
    """Budgets of failed authentications and where the client address comes from.

    A "pair" is (username or client ID, source address); an "account" is a
    username or client ID from every address; a "source" is one address.
    """

    throttle_enabled: bool = True
    window_seconds: int = 900
    pair_failures: int = 5
    account_failures: int = 50
    source_failures: int = 100
    penalty_seconds: int = 300
    # The header carrying the client's address, read only from these proxies' connections.
    trusted_proxy_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    # Where the counters live: Redis at this URL, or PostgreSQL when None.
    redis_url: str | None = None
    # Namespace of the Redis keys (REDIS_PREFIX; tests give each run its own).
    redis_prefix: str = "mrsm:throttle:"
    # How many processes share a token's rate limit when Redis does not answer: each then
    # allows rate_limit / rate_limit_instances on its own.
    rate_limit_instances: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AbuseSettings:
        """Raises ValueError naming the variable when one is unusable."""
        d = cls()
        header = (env.get("TRUSTED_PROXY_HEADER") or "").strip() or None
        proxies = parse_networks(env.get("TRUSTED_PROXIES", ""))
        if header and not proxies:
            raise ValueError("TRUSTED_PROXY_HEADER needs TRUSTED_PROXIES (the proxies' CIDRs)")
        enabled = (env.get("THROTTLE_ENABLED", "1").strip().lower()
                   not in {"0", "false", "no", "off"})
        redis_url = (env.get("REDIS_URL") or "").strip() or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        prefix = env.get("REDIS_PREFIX", "")
        if prefix and not _PREFIX.fullmatch(prefix):
            raise ValueError("REDIS_PREFIX must be 1 to 100 printable characters without "
                             "spaces or braces")
        return cls(
            throttle_enabled=enabled,
            window_seconds=env_int(env, "THROTTLE_WINDOW_SECONDS", d.window_seconds,
                      minimum=1),
            pair_failures=env_int(env, "THROTTLE_PAIR_FAILURES", d.pair_failures,
                      minimum=1),
            account_failures=env_int(env, "THROTTLE_ACCOUNT_FAILURES", d.account_failures,
                      minimum=1),
            source_failures=env_int(env, "THROTTLE_SOURCE_FAILURES", d.source_failures,
                      minimum=1),
            penalty_seconds=env_int(env, "THROTTLE_PENALTY_SECONDS", d.penalty_seconds,
                      minimum=1),
            trusted_proxy_header=header,
            trusted_proxies=proxies,
            redis_url=redis_url,
            redis_prefix=prefix or d.redis_prefix,
            rate_limit_instances=env_int(env, "RATE_LIMIT_INSTANCES", d.rate_limit_instances,
                                         minimum=1, maximum=10_000),
        )


# The user rules checked at start (service.validation's, which the /users schemas use): a
# bad ADMIN_USERNAME otherwise fails on the database's CHECK with a traceback, and a reserved
# name or a short password would be accepted.
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# Past these a token's or a JWT's expiry overflows datetime (a 500 on every request).
MAX_TTL_DAYS = 36525  # 100 years
MAX_JWT_TTL_SECONDS = 366 * 86400


def _check_admin(username: str | None, password: str | None) -> None:
    if username is not None and (not USERNAME_PATTERN.fullmatch(username)
                                 or username.lower() in RESERVED_USERNAMES):
        raise ConfigError("ADMIN_USERNAME must be 1 to 60 characters of A-Z a-z 0-9 _ . @ - "
                          "and not a reserved name")
    if password is not None and not 8 <= len(password) <= 1024:
        raise ConfigError("ADMIN_PASSWORD must be 8 to 1024 characters long")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 300:  # also refuses nan and inf
        raise ConfigError(f"{name} must be between 0 and 300 seconds, got {raw!r}")
    return value


def _database_url(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip() or None
    if value is not None and not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{name} must start with postgresql:// or postgres://")
    return value


def _log_level(env: Mapping[str, str], default: str) -> str:
    value = (env.get("LOG_LEVEL") or default).strip().upper()
    if value not in _LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(sorted(_LOG_LEVELS))}, "
                          f"got {value!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def _log_format(env: Mapping[str, str]) -> str:
    value = (env.get("LOG_FORMAT") or "json").strip().lower()
    if value not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT must be json or text, got {value!r}")
    return value


JWT_ALGORITHMS = ("EdDSA", "ES256", "HS256")


def _jwt_algorithm(env: Mapping[str, str], default: str) -> str:
    raw = (env.get("JWT_ALGORITHM") or "").strip()
    if not raw:
        return default
    for name in JWT_ALGORITHMS:
        if raw.lower() == name.lower():
            return name
    raise ConfigError(f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}, got {raw!r}")


def _url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) URL without query or fragment (RFC 8414 §2), its trailing slash dropped."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment or "?" in raw or "#" in raw:
        raise ConfigError(f"{name} must be an http:// or https:// URL without query or "
                          f"fragment, got {raw!r}")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment. See README, "Configuration"."""

    database_url: str | None = None
    # A direct connection (never through PgBouncer) for LISTEN, migrations and their
    # advisory lock; DATABASE_URL when unset (see `listen_url`).
    listen_database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    admin_username: str | None = None
    admin_password: str | None = None
    jwt_secret: str | None = None
    jwt_previous_secret: str | None = None
    jwt_ttl_seconds: int = 900
    # Signing: EdDSA (Ed25519) or ES256 key pairs kept in the database, or HS256 with the secret.
    jwt_algorithm: str = "EdDSA"
    jwt_key_rotation_days: int = 90  # 0: never rotated automatically
    key_encryption_key: str | None = None  # encrypts the stored private keys when set
    issuer_url: str | None = None  # default: http://HOST:PORT
    jwt_audience: str | None = None  # default: the issuer
    token_default_ttl_days: int = 366
    token_max_ttl_days: int | None = None
    # Argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 4
    hash_workers: int = 2
    hash_queue: int = 64
    db_pool_min: int = 2
    db_pool_max: int = 10
    db_timeout: float = 5.0
    # asyncpg's prepared-statement cache per connection; 0 behind PgBouncer before 1.21 in
    # transaction mode, where a prepared statement does not survive its transaction.
    db_statement_cache_size: int = 100
    auth_cache_size: int = 100_000
    auth_cache_ttl_seconds: int = 60
    last_used_flush_seconds: int = 60
    # Pipe rows written together: at most this many rows per transaction, and how long the
    # writer waits after an idle spell to gather more (0: not at all).
    ingest_max_rows: int = 10_000
    ingest_max_delay_ms: int = 0
    # Record the last client addresses each token is used from (recent_sources).
    track_sources: bool = True
    # The console marks tokens that expire within this many days.
    token_expiry_warning_days: int = 7
    # POST /tokens/leaked: reports per client address per hour (0: unlimited).
    leak_reports_per_hour: int = 60
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".data")
    migrations_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "migrations")
    log_level: str = "INFO"
    log_format: str = "json"  # or "text"
    access_log: bool = True
    # Throttling and trusted proxies (AbuseSettings above).
    abuse: AbuseSettings = field(default_factory=AbuseSettings)

    @property
    def listen_url(self) -> str:
        """Where the revocation listener and the migrations connect: LISTEN_DATABASE_URL,
        else DATABASE_URL."""
        return self.listen_database_url or self.database_url or ""

    @property
    def issuer(self) -> str:
        """`iss` of every JWT and the base of the metadata's endpoint URLs."""
        if self.issuer_url:
            return self.issuer_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def jwt_issuer(self) -> str:
        return self.issuer

    @property
    def audience(self) -> str:
        """`aud` of every JWT, and the only one accepted."""
        return self.jwt_audience or self.issuer

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        admin_username = env.get("ADMIN_USERNAME") or None
        admin_password = env.get("ADMIN_PASSWORD") or None
        if bool(admin_username) != bool(admin_password):
            raise ConfigError("set both ADMIN_USERNAME and ADMIN_PASSWORD, or neither")
        _check_admin(admin_username, admin_password)
        jwt_secret = env.get("JWT_SECRET") or None
        if jwt_secret is not None and len(jwt_secret.encode()) < 32:
            raise ConfigError("JWT_SECRET must be at least 32 bytes (256 bits) long")
        kek = env.get("KEY_ENCRYPTION_KEY") or None
        if kek is not None and len(kek.encode()) < 32:
            raise ConfigError("KEY_ENCRYPTION_KEY must be at least 32 bytes (256 bits) long")
        defaults = cls()
        try:
            abuse = AbuseSettings.from_env(env)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        database_url = env.get("DATABASE_URL") or None
        listen_database_url = _database_url(env, "LISTEN_DATABASE_URL")
        # A listener URL of its own says DATABASE_URL goes through a pooler: without a
        # cache size given, prepared statements are not kept (PgBouncer < 1.21 loses them).
        pooled = listen_database_url is not None and listen_database_url != database_url
        return cls(
            abuse=abuse,
            database_url=database_url,
            listen_database_url=listen_database_url,
            host=env.get("HOST") or defaults.host,
            port=env_int(env, "PORT", defaults.port, minimum=0, maximum=65535),
            workers=env_int(env, "WORKERS", defaults.workers, minimum=1),
            admin_username=admin_username,
            admin_password=admin_password,
            jwt_secret=jwt_secret,
            jwt_previous_secret=env.get("JWT_PREVIOUS_SECRET") or None,
            jwt_algorithm=_jwt_algorithm(env, defaults.jwt_algorithm),
            jwt_key_rotation_days=env_int(env, "JWT_KEY_ROTATION_DAYS",
                                          defaults.jwt_key_rotation_days, minimum=0,
                                          maximum=MAX_TTL_DAYS),
            key_encryption_key=kek,
            issuer_url=_url(env, "ISSUER_URL"),
            jwt_audience=(env.get("JWT_AUDIENCE") or "").strip() or None,
            jwt_ttl_seconds=env_int(env, "JWT_TTL_SECONDS", defaults.jwt_ttl_seconds, minimum=1,
                                 maximum=MAX_JWT_TTL_SECONDS),
            token_default_ttl_days=env_int(
                env, "TOKEN_DEFAULT_TTL_DAYS", defaults.token_default_ttl_days, minimum=1,
                maximum=MAX_TTL_DAYS,
            ),
            token_max_ttl_days=env_int(env, "TOKEN_MAX_TTL_DAYS", None, minimum=1,
                                    maximum=MAX_TTL_DAYS),
            argon2_time_cost=env_int(env, "ARGON2_TIME_COST", defaults.argon2_time_cost, minimum=1),
            argon2_memory_cost=env_int(
                env, "ARGON2_MEMORY_COST", defaults.argon2_memory_cost, minimum=8
            ),
            argon2_parallelism=env_int(
                env, "ARGON2_PARALLELISM", defaults.argon2_parallelism, minimum=1
            ),
            hash_workers=env_int(env, "HASH_WORKERS", defaults.hash_workers, minimum=1),
            hash_queue=env_int(env, "HASH_QUEUE", defaults.hash_queue, minimum=1),
            db_pool_min=env_int(env, "DB_POOL_MIN", defaults.db_pool_min, minimum=1),
            db_pool_max=env_int(env, "DB_POOL_MAX", defaults.db_pool_max, minimum=1),
            db_timeout=_seconds(env, "DB_TIMEOUT", defaults.db_timeout),
            db_statement_cache_size=env_int(
                env, "DB_STATEMENT_CACHE_SIZE", 0 if pooled else defaults.db_statement_cache_size,
                minimum=0, maximum=100_000),
            auth_cache_size=env_int(env, "AUTH_CACHE_SIZE", defaults.auth_cache_size, minimum=0),
            auth_cache_ttl_seconds=env_int(
                env, "AUTH_CACHE_TTL_SECONDS", defaults.auth_cache_ttl_seconds, minimum=0
            ),
            last_used_flush_seconds=env_int(
                env, "LAST_USED_FLUSH_SECONDS", defaults.last_used_flush_seconds, minimum=1
            ),
            ingest_max_rows=env_int(env, "INGEST_MAX_ROWS", defaults.ingest_max_rows, minimum=1),
            ingest_max_delay_ms=env_int(env, "INGEST_MAX_DELAY_MS", defaults.ingest_max_delay_ms,
                                        minimum=0, maximum=1000),
            track_sources=_flag(env, "TRACK_SOURCES", defaults.track_sources),
            token_expiry_warning_days=env_int(
                env, "TOKEN_EXPIRY_WARNING_DAYS", defaults.token_expiry_warning_days,
                minimum=0, maximum=MAX_TTL_DAYS),
            leak_reports_per_hour=env_int(
                env, "LEAK_REPORTS_PER_HOUR", defaults.leak_reports_per_hour, minimum=0,
                maximum=1_000_000),
            data_dir=Path(env["DATA_DIR"]) if env.get("DATA_DIR") else defaults.data_dir,
            log_level=_log_level(env, defaults.log_level),
            log_format=_log_format(env),
            access_log=(env.get("ACCESS_LOG", "1").strip().lower() not in {"0", "false", "no"}),
        )
