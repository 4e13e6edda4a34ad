"""examples/device.py against a real service: a database outage and a rate limit lose nothing."""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from service.config import PROJECT_ROOT
from tests.support.servers import environment, stop_process

DEVICE = PROJECT_ROOT / "examples" / "device.py"
DATA = "/pipes/mqtt:garden/temperature/greenhouse.1/data"


def _stored(dsn: str) -> list[tuple]:
    """(timestamp, values, xmin) of each stored row, in time order, straight from the table."""
    async def fetch():
        conn = await asyncpg.connect(dsn)
        try:
            return [(r["ts"], json.loads(r["v"]), int(r["x"])) for r in await conn.fetch(
                "SELECT ts, \"values\"::text AS v, xmin::text AS x FROM pipe_rows ORDER BY ts")]
        finally:
            await conn.close()
    return asyncio.run(fetch())


class Device:
    """examples/device.py as a process; its readings (stdout) and log (stderr) in files."""

    def __init__(self, tmp: Path, server, api_key: str, *args: str) -> None:
        self.out, self.err, self.spool = tmp / "readings.out", tmp / "device.err", tmp / "spool"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(DEVICE), "mqtt:garden", "temperature", "greenhouse.1",
                 "--spool", str(self.spool), *args],
                env=environment({"MRSM_API_URL": server.base_url, "MRSM_API_KEY": api_key}),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def readings(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def log(self) -> str:
        return self.err.read_text()

    def wait_for(self, what: str, check, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.process.poll() is None, f"the device exited: {self.log()}"
            assert time.monotonic() < deadline, f"no {what} in {timeout} s: {self.log()}"
            time.sleep(0.05)

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            stop_process(self.process)


def _token(server, **limits) -> dict:
    resp = server.json_request("POST", "/tokens", {
        "label": f"greenhouse-{time.monotonic_ns()}", "scopes": ["write:pipes"], **limits},
        server.bearer())
    assert resp.status == 201, resp.body
    return resp.json()


def _key(server, **limits) -> str:
    return _token(server, **limits)["api_key"]


def _assert_landed_once_in_order(dsn: str, readings: list[dict]) -> None:
    rows = _stored(dsn)
    # Every reading the device took, once, with its value (timestamps are unique keys).
    assert [(ts.isoformat().replace("+00:00", "Z"), values) for ts, values, _ in rows] == [
        (r["timestamp"], {"celsius": r["celsius"]}) for r in readings]
    # In order: a later reading never landed in an earlier transaction than a former one.
    xmins = [x for _, _, x in rows]
    assert xmins == sorted(xmins)


def test_a_database_outage_loses_no_reading(private_pg, start_service, tmp_path):
    server = start_service(private_pg.dsn)
    count = 160
    device = Device(tmp_path, server, _key(server), "--interval", "0.05", "--count", str(count))
    device.wait_for("reading written", lambda: len(_stored(private_pg.dsn)) >= 10)
    private_pg.stop()
    try:
        taken = len(device.readings())
        # The device keeps reading while the service answers 503, and waits as it is told.
        device.wait_for("two 503s", lambda: device.log().count("503: ") >= 2)
        device.wait_for("readings while down",
                        lambda: len(device.readings()) >= min(taken + 20, count))
    finally:
        private_pg.start()
    assert device.finish() == 0, device.log()
    log = device.log()
    assert "503: The database does not answer; try again shortly. Waiting " in log, log
    assert "(Retry-After: 1)." in log and "sending again: " in log, log
    readings = device.readings()
    assert len(readings) == count
    _assert_landed_once_in_order(private_pg.dsn, readings)
    assert device.spool.read_bytes() == b""  # everything sent: the spool is emptied


def test_a_rate_limited_device_waits_as_told_and_sends_everything(database_url, start_service,
                                                                 tmp_path):
    server = start_service(database_url)
    # 20 a minute: a burst of 20 requests, then one every 3 s. A reading every 20 ms is sent
    # alone while requests are quicker than that, so the burst is spent within the readings.
    device = Device(tmp_path, server, _key(server, rate_limit=20), "--interval", "0.02",
                    "--count", "60")
    assert device.finish() == 0, device.log()
    waits = re.findall(r"429: This token's rate limit is reached; try again in \d+ seconds\. "
                       r"Waiting ([\d.]+) s \(Retry-After: (\d+)\)\.", device.log())
    assert waits, device.log()
    assert all(float(waited) >= int(told) for waited, told in waits)
    _assert_landed_once_in_order(database_url, device.readings())


def test_an_invalidated_key_stops_the_device_and_keeps_its_readings(database_url,
                                                                    start_service, tmp_path):
    server = start_service(database_url)
    token = _token(server)
    resp = server.request("POST", f"/tokens/{token['id']}/invalidate", headers=server.bearer())
    assert resp.status == 200, resp.body
    device = Device(tmp_path, server, token["api_key"], "--interval", "0.05")
    assert device.finish() == 3
    assert "stopping: 401: " in device.log()
    spooled = [json.loads(line) for line in device.spool.read_text().splitlines()]
    assert spooled and spooled == device.readings()[:len(spooled)]

    # Started again with a good key, it sends what the first run spooled, then goes on.
    device = Device(tmp_path, server, _key(server), "--interval", "0.05", "--count", "3")
    assert device.finish() == 0, device.log()
    assert len(device.readings()) == 3
    _assert_landed_once_in_order(database_url, spooled + device.readings())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_device_keeps_what_it_did_not_send(database_url, tmp_path, signum):
    # No service at all: every reading stays in the spool, and a signal stops it at once.
    class Nowhere:
        base_url = "http://127.0.0.1:9"  # the discard port: nothing listens

    device = Device(tmp_path, Nowhere(), "mrsm-key:unused", "--interval", "0.02")
    device.wait_for("readings", lambda: len(device.readings()) >= 5)
    device.process.send_signal(signum)
    assert device.finish(timeout=20) == 0
    spooled = [json.loads(line) for line in device.spool.read_text().splitlines()]
    assert spooled == device.readings()
    assert "cannot send" in device.log()


def _device_module():
    spec = importlib.util.spec_from_file_location("device", DEVICE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_spool_recovers_from_a_cut_in_the_middle_of_a_write(tmp_path):
    device = _device_module()
    path = tmp_path / "spool"
    path.write_bytes(b'{"timestamp":"2024-05-01T12:00:00Z","celsius":21.0}\n'
                     b'{"timestamp":"2024-05-01T12:00:10Z","celsius":21.1}\n'
                     b'{"timestamp":"2024-05-01T12:0')  # power lost mid-append
    spool = device.Spool(str(path))
    readings, end = spool.pending(10)
    assert [r["celsius"] for r in readings] == [21.0, 21.1]
    _, first_end = spool.pending(1)
    spool.mark_sent(first_end)
    assert device.Spool(str(path)).pending(10)[0] == readings[1:]  # the cursor was kept
    spool.append({"timestamp": "2024-05-01T12:00:20Z", "celsius": 21.2})
    spool.mark_sent(spool.pending(10)[1])
    assert path.read_bytes() == b"" and (tmp_path / "spool.sent").read_text() == "0"
    # A cut between emptying the file and resetting the cursor: a cursor past the end is 0.
    (tmp_path / "spool.sent").write_text(str(end))
    spool = device.Spool(str(path))
    spool.append({"timestamp": "2024-05-01T12:00:30Z", "celsius": 21.3})
    assert [r["celsius"] for r in spool.pending(10)[0]] == [21.3]


def test_retry_after_takes_seconds_or_an_http_date():
    device = _device_module()
    assert device.retry_after("7") == 7.0
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= device.retry_after(later) <= 30
    assert device.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: at once
    assert device.retry_after("soon") is None and device.retry_after(None) is None
