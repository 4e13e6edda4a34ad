"""`sql:LABEL`: straight on the database, through the service's own rules, as its operator.

Every call validates its input with the routes' schemas and runs the same
`service.tokens.ops` / `service.users.ops` functions the HTTP handlers run, acting as
`ops.OPERATOR` (sees and may change everything, as an admin would; its changes are
audited with no source address), each change in a transaction of its own. The pipe
methods (`service.sdk.sql_pipes`) run the /pipes routes' checks and `service.pipes.repo`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from service.auth import keystore
from service.auth.authenticator import Authenticator
from service.auth.cache import CredentialCache
from service.auth.lastused import LastUsedTracker
from service.auth.passwords import PasswordHasher
from service.auth.scopes import SCOPES, order
from service.config import ConfigError, Settings
from service.db import create_pool, mask_dsn
from service.embedded import with_database
from service.errors import ApiError
from service.oauth import ops as oauth_ops
from service.sdk.base import InstanceError, keep_open, on_sdk_loop
from service.sdk.config import connector_type, instance_config
from service.sdk.connector import Connector
from service.sdk.sql_pipes import SQLPipes
from service.tokens import ops
from service.tokens.schemas import (
    TokenCreateSchema,
    TokenQuerySchema,
    TokenRotateSchema,
    TokenUpdateSchema,
    token_out,
)
from service.users import ops as user_ops
from service.users.schemas import UserCreateSchema, UserUpdateSchema
from service.validation import validate


@connector_type
class SQLConnector(SQLPipes, Connector):
    """A PostgreSQL database holding the service's tables."""

    type = "sql"

    def __init__(self, label: str = "main", *, database_url: str | None = None,
                 settings: Settings | None = None) -> None:
        super().__init__(label)
        self._database_url = database_url
        self._settings = settings
        self._embedded = None  # keeps an embedded server alive while the connector is
        self._pool_task: asyncio.Future[asyncpg.Pool] | None = None

    @property
    def settings(self) -> Settings:
        """Settings.from_env() (policy, argon2 cost) with this instance's database."""
        if self._settings is None:
            try:
                settings = Settings.from_env()
            except ConfigError as err:
                raise InstanceError(f"Configuration error: {err}") from None
            url = self.configured_url(settings)
            if url is None:
                # Like `python -m service`: the embedded PostgreSQL in DATA_DIR.
                settings, self._embedded = with_database(settings)
            else:
                settings = dataclasses.replace(settings, database_url=url)
            self._settings = settings
        return self._settings

    def configured_url(self, settings: Settings | None = None) -> str | None:
        """The database URL given, or from the environment or the config file; None for
        sql:main when there is none (the embedded PostgreSQL)."""
        if self._database_url:
            return self._database_url
        if self.label == "main":
            url = os.environ.get("DATABASE_URL") if settings is None else settings.database_url
            if url:
                return url
        url = (os.environ.get(f"MRSM_SQL_{self.label.upper()}")
               or instance_config("sql", self.label).get("database_url"))
        if url is None and self.label != "main":
            raise InstanceError(f"sql:{self.label} has no database: set "
                                f"MRSM_SQL_{self.label.upper()} or database_url in the "
                                "config file.")
        return url

    async def _new_pool(self) -> asyncpg.Pool:
        settings = self.settings
        dsn = settings.database_url or ""
        try:
            # The service's own pool set-up (JSON codecs, timeouts), sized for one client.
            return await create_pool(settings, min_size=1, max_size=4)
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError,
                asyncpg.InterfaceError) as err:  # ValueError: not a PostgreSQL URL
            raise InstanceError(f"Cannot connect to the database {mask_dsn(dsn)}: "
                                f"{str(err) or type(err).__name__}") from None

    async def _shared_pool(self) -> asyncpg.Pool:
        """The pool kept on the SDK loop; concurrent first calls share one creation."""
        if self._pool_task is None:
            self._pool_task = asyncio.ensure_future(self._new_pool())
            keep_open(self)
        try:
            return await asyncio.shield(self._pool_task)
        except InstanceError:
            self._pool_task = None  # try again on the next call
            raise

    async def aclose(self) -> None:
        task, self._pool_task = self._pool_task, None
        if task is not None:
            try:
                pool = await task
            except InstanceError:
                return
            await pool.close()

    @asynccontextmanager
    async def _connection(self, *, transaction: bool = True) -> AsyncIterator[asyncpg.Connection]:
        # On the SDK loop the pool is kept between calls; on any other loop (the async
        # variant awaited by the caller) it lives for this call only.
        shared = on_sdk_loop()
        pool = await self._shared_pool() if shared else await self._new_pool()
        try:
            async with pool.acquire() as conn:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn
        except ApiError as err:
            raise InstanceError(err.description, status=err.status, code=err.code,
                                fields=err.fields) from None
        except asyncpg.UndefinedTableError:
            raise InstanceError("The database has no tables yet: run `mrsm migrate`.") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise InstanceError(f"Database error: {err}") from None
        finally:
            if not shared:
                await pool.close()

    @staticmethod
    def _validate(schema, body: dict) -> dict:
        try:
            return validate(schema, body)
        except ApiError as err:
            raise InstanceError(err.description, status=err.status, code=err.code,
                                fields=err.fields) from None

    async def awhoami(self) -> dict:
        return {"id": str(ops.OPERATOR.user_id), "username": ops.OPERATOR.username,
                "type": "admin", "scopes": order(ops.OPERATOR.scopes), "created_at": None,
                "token": None}

    async def aconfig(self) -> dict:
        settings = self.settings
        default = settings.token_default_ttl_days
        if settings.token_max_ttl_days is not None:
            default = min(default, settings.token_max_ttl_days)
        return {"token_default_ttl_days": default,
                "token_max_ttl_days": settings.token_max_ttl_days,
                "never_expires_allowed": settings.token_max_ttl_days is None,
                "jwt_ttl_seconds": settings.jwt_ttl_seconds,
                "token_expiry_warning_days": settings.token_expiry_warning_days,
                "scopes": [{"name": n, "description": d} for n, d in SCOPES.items()]}

    async def aintrospect(self, token: str) -> dict:
        """As the operator (an admin): any credential's claims, checked as the service would."""
        settings = self.settings
        async with self._connection(transaction=False) as conn:
            codec = await oauth_ops.codec_for(conn, settings)
        shared = on_sdk_loop()
        pool = await self._shared_pool() if shared else await self._new_pool()
        try:
            # The service's own check, without its cache (disabled: nothing listens for
            # revocations here) and without writing last-used times (never flushed).
            authn = Authenticator(pool, codec, CredentialCache(0, 0),
                                  LastUsedTracker(pool, 3600), settings.db_timeout)
            return await oauth_ops.introspect(authn.verify, ops.OPERATOR, token,
                                              settings.issuer)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise InstanceError(f"Database error: {err}") from None
        finally:
            if not shared:
                await pool.close()

    async def arotate_signing_key(self) -> dict:
        """`mrsm rotate signing-key`: publish a new key pair; it signs after the overlap."""
        settings = self.settings
        try:
            async with self._connection(transaction=False) as conn:
                kid, delay = await keystore.rotate(conn, settings)
        except ValueError as err:
            raise InstanceError(str(err)) from None
        return {"kid": kid, "signs_in_seconds": delay}

    async def acreate_token(self, body: dict) -> dict:
        data = dict(self._validate(TokenCreateSchema(), body))
        # Every field the route passes, by the same names (label, scopes, rate_limit, ...).
        options = {"expiration_given": "expiration" in data, "username": data.pop("user", None),
                   **data}
        async with self._connection() as conn:
            return await ops.register(conn, self.settings, ops.OPERATOR, **options)

    async def atoken_page(self, *, user: str | None = None, limit: int = 100,
                          offset: int = 0, expires_before: str | None = None) -> dict:
        query = {"limit": limit, "offset": offset,
                 **({"user": user} if user is not None else {}),
                 **({"expires_before": expires_before} if expires_before is not None else {})}
        data = self._validate(TokenQuerySchema(), query)
        async with self._connection(transaction=False) as conn:
            return await ops.listing(conn, ops.OPERATOR, username=data.get("user"),
                                     limit=data["limit"], offset=data["offset"],
                                     filters=ops.filters_of(data, self.settings))

    async def aget_token(self, token_id: str) -> dict:
        async with self._connection(transaction=False) as conn:
            row = await ops.visible_token(conn, ops.OPERATOR, token_id)
            return token_out(row, datetime.now(UTC))

    async def aedit_token(self, token_id: str, changes: dict) -> dict:
        data = self._validate(TokenUpdateSchema(), changes)
        async with self._connection() as conn:
            return await ops.edit(conn, self.settings, ops.OPERATOR, token_id, data)

    async def ainvalidate_token(self, token_id: str) -> dict:
        async with self._connection() as conn:
            return await ops.invalidate(conn, ops.OPERATOR, token_id)

    async def adelete_token(self, token_id: str) -> None:
        async with self._connection() as conn:
            await ops.delete(conn, ops.OPERATOR, token_id)

    async def arotate_token(self, token_id: str, overlap_seconds: int) -> dict:
        data = self._validate(TokenRotateSchema(), {"overlap_seconds": overlap_seconds})
        async with self._connection() as conn:
            return await ops.rotate(conn, ops.OPERATOR, token_id,
                                    overlap_seconds=data["overlap_seconds"])

    async def acreate_user(self, body: dict) -> dict:
        data = self._validate(UserCreateSchema(), body)
        hasher = PasswordHasher(self.settings)
        try:
            async with self._connection() as conn:
                return await user_ops.register(
                    conn, hasher, ops.OPERATOR, source=None, username=data["username"],
                    password=data["password"], type_=data["type"], scopes=data["scopes"])
        finally:
            hasher.close()

    async def auser_page(self, *, limit: int = 100, offset: int = 0) -> dict:
        async with self._connection(transaction=False) as conn:
            return await user_ops.listing(conn, limit=limit, offset=offset)

    async def adelete_user(self, username: str) -> None:
        async with self._connection() as conn:
            await user_ops.delete(conn, ops.OPERATOR, username, source=None)

    async def aedit_user(self, username: str, changes: dict) -> dict:
        data = self._validate(UserUpdateSchema(), changes)
        password_hash = None
        if "password" in data:
            # Hashed before the transaction, as PATCH /users/{username} does, so argon2
            # never runs while ops.update holds the users lock.
            hasher = PasswordHasher(self.settings)
            try:
                password_hash = await hasher.hash(data["password"])
            finally:
                hasher.close()
        async with self._connection() as conn:
            return await user_ops.update(conn, ops.OPERATOR, username, source=None,
                                         password_hash=password_hash, type_=data.get("type"),
                                         scopes=data.get("scopes"))
