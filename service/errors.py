"""The one JSON error shape, and the mapping of every failure onto it (`response_for`).

Every error body is ``{"error": code, "error_description": text}``, plus ``"fields"``
for validation errors (422). Nothing else ever leaves the service: no HTML page,
no stack trace.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from service import metrics

log = logging.getLogger("service.errors")

# Default code and description for each HTTP status aiohttp may raise on its own.
_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "The request is malformed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This method is not allowed here."),
    409: ("conflict", "This conflicts with what exists."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "The request body has the wrong content type."),
    422: ("validation_error", "The request body is not valid."),
    429: ("too_many_requests", "Too many requests; slow down."),
    431: ("request_header_fields_too_large", "The request headers are too large."),
    500: ("internal_error", "Something went wrong on our side; it has been logged."),
    503: ("service_unavailable", "The service cannot answer right now; try again shortly."),
}


# Failures that mean "the database is away", answered 503 rather than 500.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # Class 57: the server is shutting down, crashed, or cancelled the query on a timeout.
    asyncpg.OperatorInterventionError,
    # Class 53: too many connections, out of memory, disk full. Nothing the caller sent
    # is wrong and trying again later may work: a 503, not a 500.
    asyncpg.InsufficientResourcesError,
    # A multi-host DATABASE_URL with target_session_attrs=read-write while no host accepts
    # writes (a failover under way): the new primary is a moment away.
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)


class Outage:
    """Whether this process is refusing requests because the database is away.

    An outage is logged twice, when it starts and when it ends (the first request answered
    without a failure), however many requests it refuses: one line per refused request
    would flood the log (hundreds a second) just when someone is reading it. The refusals
    are counted in /metrics instead. A database that fails again within QUIET seconds of
    recovering (out of connections, say, so that some requests get one and some do not) is
    not logged as a new outage each time, but summed in at most one line every QUIET seconds.
    """

    QUIET = 10.0
    __slots__ = ("active", "announced", "ended", "last_line", "refused", "started")

    def __init__(self) -> None:
        self.active = False
        self.announced = False  # the current outage's start was logged
        self.refused = 0  # refusals not yet reported in the log
        self.started = self.last_line = 0.0
        self.ended = float("-inf")

    def refuse(self, exc: BaseException) -> None:
        """A request is answered 503 because of `exc`."""
        metrics.DB_UNAVAILABLE_REFUSED.value += 1
        self.refused += 1
        if self.active:
            return
        self.active = True
        now = time.monotonic()
        self.announced = now - self.ended >= self.QUIET
        if self.announced:
            self.started = self.last_line = now
            self.refused = 1
            metrics.DB_OUTAGES.value += 1
            log.warning("database unavailable (%s): answering 503 until it answers again",
                        type(exc).__name__)

    def over(self) -> None:
        """A request was answered without the database failing: the outage, if any, ended."""
        if not self.active:
            return
        self.active = False
        now = self.ended = time.monotonic()
        if self.announced:
            log.warning("database available again after %.1f s; %d requests were refused",
                        now - self.started, self.refused)
        elif now - self.last_line >= self.QUIET:
            log.warning("database failing intermittently: %d requests refused in %.0f s",
                        self.refused, now - self.last_line)
        else:
            return
        self.refused = 0
        self.last_line = now


# One per process, like the log and the metrics it reports to.
OUTAGE = Outage()


class ApiError(Exception):
    """An error that becomes a JSON response with the given status."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        description: str | None = None,
        *,
        fields: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_code, default_description = _STATUS_CODES.get(status, ("error", "Error."))
        self.status = status
        self.code = code or default_code
        self.description = description or default_description
        self.fields = dict(fields) if fields is not None else None
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.code}: {self.description}")


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


def error_body(code: str, description: str, fields: Mapping[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {"error": code, "error_description": description}
    if fields is not None:
        body["fields"] = fields
    return body


def error_response(err: ApiError) -> web.Response:
    return web.json_response(
        error_body(err.code, err.description, err.fields),
        status=err.status,
        headers=err.headers,
    )


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    code, description = _STATUS_CODES.get(exc.status, ("error", exc.reason))
    if exc.status == 413:
        description = "The request body is larger than the limit of 1 MiB."
    headers = {}
    if exc.status == 405 and isinstance(exc, web.HTTPMethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        description = f"Method {exc.method} is not allowed here; use {headers['Allow']}."
    return ApiError(exc.status, code, description, headers=headers)


def response_for(exc: Exception, request_id: str) -> web.Response:
    """The JSON answer for what a handler (or the auth check) raised: every error leaves
    as the one shape. HTTPExceptions below 400 are redirects and are not passed here."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, web.HTTPException):
        return error_response(_from_http_exception(exc))
    if isinstance(exc, DATABASE_UNAVAILABLE):
        OUTAGE.refuse(exc)
        return error_response(
            ApiError(503, description="The database does not answer; try again shortly.",
                     headers={"Retry-After": "1"})
        )
    if isinstance(exc, json.JSONDecodeError):
        return error_response(ApiError(400, "invalid_request", "The body is not valid JSON."))
    if isinstance(exc, RequestPayloadError):
        # aiohttp could not read the body: e.g. "Content-Encoding: gzip" on bytes that are not.
        return error_response(ApiError(400, "invalid_request", "The request body cannot be read."))
    # The stack trace goes to the log only; the caller gets the request id to quote.
    log.error("unhandled error (request_id=%s)", request_id, exc_info=exc)
    return error_response(ApiError(500))
