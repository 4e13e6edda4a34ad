#!/usr/bin/env python3
"""A device's loop: read a sensor, keep every reading in a spool file, send it with an API key.

Standard library only (Python 3.8 or later, as on a Raspberry Pi):

    MRSM_API_URL=http://192.168.10.2:8000 MRSM_API_KEY=mrsm-key:... \\
        python3 device.py mqtt:garden temperature greenhouse.1 --interval 10

Nothing is lost: each reading is appended to the spool (JSON lines, fsync'd) *before* it is
sent, and the spool's cursor (`SPOOL.sent`, the byte offset of the first unsent reading,
replaced atomically) moves only after the service answered 200. While the service or its
database is away, readings pile up in the spool; they are sent again, oldest first, when it
answers. A reading resent after a lost answer overwrites itself (rows are keyed by their
timestamp), so none is stored twice. 429 and 503 are waited out as `Retry-After` says;
other failures back off exponentially (1 s to 60 s, with jitter). 401 and 403 stop the device
(a revoked or wrong key: resending cannot help); its readings stay in the spool.

Readings go on schedule in one thread, sending in another, so a slow network never delays
a reading. SIGTERM or Ctrl+C stops both; the spool keeps what was not sent.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import math
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

UTC = timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11's; a Pi may run an older one
MAX_BATCH = 500  # readings per request
MAX_WAIT = 300.0  # seconds: the longest Retry-After honoured as given
FATAL = {401, 403, 404}  # a key that cannot write this pipe: resending cannot help


def log(message: str) -> None:
    sys.stderr.write(f"device: {message}\n")
    sys.stderr.flush()


def read_sensor(started: float) -> dict:
    """The reading's values. Simulated: a temperature drifting around 21 °C; replace this
    with your sensor (a DS18B20 on 1-Wire reads /sys/bus/w1/devices/28-*/temperature)."""
    elapsed = time.monotonic() - started
    celsius = 21.0 + 2.0 * math.sin(elapsed / 600.0) + random.gauss(0.0, 0.05)
    return {"celsius": round(celsius, 2)}


class Spool:
    """Readings not yet sent: an append-only file of JSON lines and a cursor file.

    Only the sender moves the cursor; when it reaches the end, the file is emptied.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.cursor_path = path + ".sent"
        self._lock = threading.Lock()
        with open(path, "ab"):
            pass  # created if missing
        self._drop_torn_line()
        self.offset = self._read_cursor()

    def _drop_torn_line(self) -> None:
        # A power cut in the middle of an append leaves a line without its newline: that
        # reading was never sent (appends come before sending), and it is not whole.
        with open(self.path, "r+b") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
                _sync(fh)

    def _read_cursor(self) -> int:
        try:
            with open(self.cursor_path) as fh:
                offset = int(fh.read().strip() or 0)
        except (OSError, ValueError):
            return 0
        # Past the end: the file was emptied and the new cursor not yet written.
        return offset if 0 <= offset <= os.path.getsize(self.path) else 0

    def _write_cursor(self, offset: int) -> None:
        tmp = self.cursor_path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(offset))
            _sync(fh)
        os.replace(tmp, self.cursor_path)
        _sync_dir(self.cursor_path)
        self.offset = offset

    def append(self, reading: dict) -> None:
        line = (json.dumps(reading, separators=(",", ":")) + "\n").encode()
        with self._lock, open(self.path, "ab") as fh:
            fh.write(line)
            _sync(fh)

    def pending(self, limit: int) -> tuple[list[dict], int]:
        """Up to `limit` unsent readings, oldest first, and the offset just past them."""
        with self._lock, open(self.path, "rb") as fh:
            fh.seek(self.offset)
            readings, end = [], self.offset
            for line in fh:
                if len(readings) >= limit or not line.endswith(b"\n"):
                    break
                readings.append(json.loads(line))
                end += len(line)
            return readings, end

    def mark_sent(self, end: int) -> None:
        with self._lock:
            self._write_cursor(end)
            if end == os.path.getsize(self.path):
                # Everything is sent: empty the file, then the cursor (a crash between the
                # two leaves a cursor past the end, read as 0).
                with open(self.path, "r+b") as fh:
                    fh.truncate(0)
                    _sync(fh)
                self._write_cursor(0)


def _sync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Sender(threading.Thread):
    def __init__(self, url: str, api_key: str, spool: Spool, stop: threading.Event,
                 wake: threading.Event, done_reading: threading.Event,
                 timeout: float = 15.0) -> None:
        super().__init__(name="sender", daemon=True)
        self.url, self.api_key, self.spool = url, api_key, spool
        self.stop, self.wake, self.done_reading = stop, wake, done_reading
        self.timeout = timeout
        self.backoff = 1.0
        self.batch = MAX_BATCH
        self.failing = False
        self.fatal: str | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            readings, end = self.spool.pending(self.batch)
            if not readings:
                if self.done_reading.is_set():
                    return
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            delay = self.send(readings, end)
            if self.fatal:
                return
            if delay:
                self.stop.wait(delay)

    def send(self, readings: list[dict], end: int) -> float:
        """One request; the seconds to wait before the next (0: go on at once)."""
        body = json.dumps(readings).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={  # noqa: S310
            "Authorization": self.api_key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 (http)
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return self.refused(err, readings)
        except (OSError, ValueError) as err:  # unreachable, reset, timed out, garbled
            return self.failed(f"cannot send ({err})")
        self.spool.mark_sent(end)
        if self.failing:
            log(f"sending again: {len(readings)} readings written "
                f"({answer.get('inserted')} new, {answer.get('updated')} resent)")
        self.failing, self.backoff, self.batch = False, 1.0, MAX_BATCH
        return 0.0

    def refused(self, err: urllib.error.HTTPError, readings: list[dict]) -> float:
        try:
            payload = json.loads(err.read())
        except (OSError, ValueError):
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        detail = payload.get("error_description", "")
        status = err.code
        if status in (429, 503):
            given = retry_after(err.headers.get("Retry-After"))
            wait = min(given, MAX_WAIT) if given is not None else self.backoff
            if status == 503:  # every device of a fleet waits: spread their return
                wait *= 1.0 + random.uniform(0.0, 0.2)
            self.failing = True
            log(f"{status}: {detail} Waiting {wait:.1f} s "
                f"(Retry-After: {err.headers.get('Retry-After')}).")
            return wait
        if status in FATAL:
            self.fatal = f"{status}: {detail}"
            log(f"stopping: {self.fatal} (the unsent readings stay in {self.spool.path})")
            self.stop.set()
            return 0.0
        if status == 413 and self.batch > 1:
            self.batch = max(1, len(readings) // 2)
            return 0.0
        if status == 422:
            return self.reject(payload.get("fields") or {}, readings)
        return self.failed(f"{status}: {detail}")

    def reject(self, fields: dict, readings: list[dict]) -> float:
        """A reading the service will never take (422 names its index): the ones before it
        are sent alone, then it is set aside in SPOOL.rejected, never dropped silently."""
        index = next((int(key) for key in fields if str(key).isdigit()), 0)
        if index > 0:
            self.batch = index
            return 0.0
        _, end = self.spool.pending(1)
        with open(self.spool.path + ".rejected", "a") as fh:
            fh.write(json.dumps(readings[0]) + "\n")
            _sync(fh)
        log(f"set aside a reading the service refuses: {readings[0]}")
        self.spool.mark_sent(end)
        self.batch = MAX_BATCH
        return 0.0

    def failed(self, why: str) -> float:
        wait = self.backoff * random.uniform(0.5, 1.0)
        self.backoff = min(self.backoff * 2.0, 60.0)
        self.failing = True
        log(f"{why}; retrying in {wait:.1f} s")
        return wait


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("connector_keys")
    parser.add_argument("metric_key")
    parser.add_argument("location_key", nargs="?", default="-")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--count", type=int, help="stop after this many readings, once sent")
    parser.add_argument("--spool", default="readings.spool", help="the spool file")
    args = parser.parse_args(argv)
    url, api_key = os.environ.get("MRSM_API_URL"), os.environ.get("MRSM_API_KEY")
    if not url or not api_key:
        log("set MRSM_API_URL and MRSM_API_KEY")
        return 2
    keys = "/".join(urllib.parse.quote(k, safe="")
                    for k in (args.connector_keys, args.metric_key, args.location_key))
    endpoint = f"{url.rstrip('/')}/pipes/{keys}/data?create=true"

    stop, wake, done_reading = threading.Event(), threading.Event(), threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    spool = Spool(args.spool)
    sender = Sender(endpoint, api_key, spool, stop, wake, done_reading)
    sender.start()
    started, taken, last = time.monotonic(), 0, None
    next_at = started
    while not stop.is_set() and (args.count is None or taken < args.count):
        now = datetime.now(UTC)
        if last is not None and now <= last:  # a clock step back: keep timestamps unique
            now = last + timedelta(microseconds=1)
        reading = {"timestamp": now.isoformat().replace("+00:00", "Z"), **read_sensor(started)}
        spool.append(reading)  # on disk before any attempt to send it
        print(json.dumps(reading), flush=True)
        wake.set()
        taken, last = taken + 1, now
        next_at = max(next_at + args.interval, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))
    done_reading.set()
    wake.set()
    while sender.is_alive():
        sender.join(0.2)  # in slices, so that a signal still reaches the main thread
    return 3 if sender.fatal else 0


if __name__ == "__main__":
    sys.exit(main())
