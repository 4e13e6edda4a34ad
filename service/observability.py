"""Request ids, one structured log line per request, and the per-request metrics.

service.front calls these for every answer, errors included, and times the whole
of the request. What it logs per request is fixed: method, route,
path (never the query string), status, duration, client address, principal ids and the
request id. Headers are never logged, so neither is `Authorization`.

The line is the JSON object service.logs.JsonFormatter would write for it, built as text
directly (see service.logs on why): every string in it goes through the JSON encoder's own
escaping, so a path or request id cannot break out of its field.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable

from aiohttp import web

from service import logs, metrics
from service.auth.principal import Principal
from service.auth.schemes import Credential
from service.config import Settings

ACCESS_LOGGER = "service.access"
access_logger = logging.getLogger(ACCESS_LOGGER)

# A caller's id is kept when short and plainly printable (no spaces, quotes are escaped by
# JSON anyway); anything else is replaced, so the log cannot be fed arbitrary text.
_REQUEST_ID = re.compile(r"[!-~]{1,128}")
# Generated ids: a random per-process prefix and a counter. Unique, and cheaper than a
# UUID per request (no system call); they need not be unpredictable.
_PREFIX = os.urandom(4).hex() + "-"
_counter = itertools.count(1)
_MAX_PATH = 256
_json_str = json.encoder.encode_basestring_ascii  # as the JSON encoder escapes (ensure_ascii)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when acceptable, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return _PREFIX + str(next(_counter))


# What the front adds 1 to when a credential was accepted, by the principal's kind: a
# dict lookup and an increment on the hot path, no call.
AUTH_OK = {kind: metrics.auth_count(kind, "ok") for kind in ("api_key", "jwt")}


def count_refusal(credential: Credential, status: int) -> None:
    """A refused (401) or throttled (429) API key or bearer on a route that checks one, by
    the kind its header claims (/login counts its own grants; accepted ones are AUTH_OK)."""
    metrics.record_auth(credential.metric_kind, "refused" if status == 401 else "throttled")


def access_logging(settings: Settings) -> Callable[[str], None] | None:
    """Where access lines go (see service.logs.line_writer), or None when ACCESS_LOG is off
    or the log level drops them."""
    return logs.line_writer(access_logger) if settings.access_log else None


_NO_IDS = '"user_id": null, "token_id": null'


@functools.lru_cache(maxsize=4096)  # str(UUID) is not free; a cached principal recurs
def _ids_of(principal: Principal) -> str:
    """The line's user_id and token_id fields, as JSON text."""
    token = f'"{principal.token_id}"' if principal.token_id else "null"
    return f'"user_id": "{principal.user_id}", "token_id": {token}'


class Answer:
    """What the front records of one kind of answer, (method, route pattern, status): its
    metrics, and the access line's start up to the path. Made once per kind."""

    __slots__ = ("status", "metrics", "head")

    def __init__(self, method: str, route: str, status: int) -> None:
        self.status = status
        self.metrics = metrics.RequestMetrics(method, route, status)
        self.head = (f'"level": "INFO", "logger": "{ACCESS_LOGGER}", '
                     f'"message": {_json_str(f"{method} {route} {status}")}, '
                     f'"method": {_json_str(method)}, "route": {_json_str(route)}')


# Only known methods are kept, so a client cannot grow it (routes and statuses are few).
_answers: dict[tuple[str, str, int], Answer] = {}


def answer_of(method: str, route: str, status: int) -> Answer:
    answer = _answers.get((method, route, status))
    if answer is None:
        answer = Answer(method, route, status)
        if method in metrics.KNOWN_METHODS:
            _answers[(method, route, status)] = answer
    return answer


def access_line(request: web.Request, principal: Principal | None, answer: Answer,
                elapsed: float, request_id: str) -> str:
    """The request's JSON line: time, level, logger, message, then the fixed fields."""
    remote = request.remote
    ids = _NO_IDS if principal is None else _ids_of(principal)
    return (
        f'{{"time": "{logs.iso_time(time.time())}", {answer.head}, '
        f'"path": {_json_str(request.path[:_MAX_PATH])}, "status": {answer.status}, '
        f'"duration_ms": {elapsed * 1000:.3f}, '
        f'"remote": {"null" if remote is None else _json_str(remote)}, {ids}, '
        f'"request_id": {_json_str(request_id)}}}'
    )
