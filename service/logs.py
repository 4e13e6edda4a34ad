"""Logging set-up: JSON lines on stderr, written through a small buffer.

One line per record: time, level, logger, message, and the `fields` a record carries.
Lines of level INFO are written in batches by a writer thread, at the latest FLUSH_SECONDS
after they were logged, so a busy server makes one write system call per batch rather than
one per request, and the event loop does not wait for it. WARNING and above are written at
once, with everything before them. If the writer falls MAX_PENDING lines behind (a stalled
stderr), the thread that logs writes them itself and so waits: memory stays bounded and
nothing is dropped. Exiting normally (SIGTERM included) writes what is left; a kill -9 can
lose the last FLUSH_SECONDS of INFO lines.

The access line, one per request, skips the logging module: building a LogRecord and
formatting it through a dict and a JSON encoder cost more than the rest of a cached
authenticated request. It is written as finished JSON text by service.observability and
handed to `line_writer`, which puts it in the same batch as every other line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError

FLUSH_SECONDS = 0.2
MAX_PENDING = 16_384  # about 5 MiB of access lines
# One encoder for every line: json.dumps(default=...) builds a new JSONEncoder per call.
_encode = json.JSONEncoder(default=str).encode


_second: tuple[int, str] = (-1, "")  # (second, its text up to the seconds)
_milli: tuple[int, str] = (-1, "")  # (millisecond, its whole text): busy servers log many a ms


def iso_time(created: float) -> str:
    """A time.time() value as UTC ISO 8601 to the millisecond, e.g. 2026-01-01T00:00:00.000Z."""
    global _second, _milli
    milli = int(created * 1000)
    cached = _milli  # one read of each pair: another thread may replace it meanwhile
    if milli == cached[0]:
        return cached[1]
    second, rest = divmod(milli, 1000)
    whole = _second
    if second != whole[0]:  # strftime once a second
        whole = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    text = f"{whole[1]}.{rest:03d}Z"
    _milli = (milli, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `fields` given."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _encode(out)


class BatchingHandler(logging.StreamHandler):
    """A StreamHandler that writes INFO lines in batches (see the module's docstring).

    Lines wait in a deque: appending to it and taking from its other end are each atomic,
    so the access line (`write_line`, once per request) is added without taking the
    handler's lock; only writing a batch takes it.
    """

    def __init__(self, stream: TextIO, interval: float = FLUSH_SECONDS) -> None:
        super().__init__(stream)
        self._lines: deque[str] = deque()
        self._interval = interval
        threading.Thread(target=self._flush_regularly, name="log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            self._lines.append(self.format(record))
            if record.levelno >= logging.WARNING or len(self._lines) >= MAX_PENDING:
                self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """A line formatted elsewhere (the access line), batched as an INFO record's is."""
        lines = self._lines
        lines.append(line)
        if len(lines) >= MAX_PENDING:  # the writer is behind: wait for it rather than grow
            self.flush()

    def flush(self) -> None:
        with self.lock:
            lines = self._lines
            # Only the lines there now: others may be appended meanwhile, for the next batch.
            batch = [lines.popleft() for _ in range(len(lines))]
            if batch:
                self.stream.write("\n".join(batch) + "\n")
            self.stream.flush()

    def _flush_regularly(self) -> None:
        while True:
            time.sleep(self._interval)
            if self._lines:
                try:
                    self.flush()
                except Exception:  # noqa: S112 - a closed stream at exit; nothing to report to
                    continue


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs each request it cannot parse at ERROR, with a traceback that quotes the
    offending bytes: an Authorization header among them, and a log any client can flood.
    Such a record becomes one WARNING line naming the problem, without the bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "malformed request refused: %s %s from %s"
            record.args = (exc.code, type(exc).__name__, record.args[0] if record.args else "?")
            record.exc_info = record.exc_text = None
        return True


def line_writer(logger: logging.Logger) -> Callable[[str], None] | None:
    """Where finished INFO lines for `logger` go: straight into the batch when its records
    end in the service's own JSON handler (see `configure_logging`), or None there when
    LOG_LEVEL drops INFO (the level is set once, before the app is made); else through
    logging, as a record whose message is the line, filtered by the level of the moment
    (tests read it there; LOG_FORMAT=text shows it)."""
    root = logging.getLogger()
    if (not logger.handlers and logger.propagate and len(root.handlers) == 1
            and isinstance(root.handlers[0], BatchingHandler)
            and isinstance(root.handlers[0].formatter, JsonFormatter)):
        return root.handlers[0].write_line if logger.isEnabledFor(logging.INFO) else None

    def through_logging(line: str) -> None:
        logger.info("%s", line)

    return through_logging


def configure_logging(level: str, fmt: str = "json") -> None:
    """Root logging to stderr: JSON lines (LOG_FORMAT=json, the default) or plain text."""
    # No line shows the thread or process, so LogRecord need not look them up (it is per
    # request for the access line).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())
    handler = BatchingHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
