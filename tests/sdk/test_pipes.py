"""`mrsm.Pipe` and `conn.get_pipes`, as Meerschaum's, on sql:main and api:main."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

import service as mrsm
from service.config import PROJECT_ROOT
from service.sdk import InstanceError
from tests.support.cli import base_env
from tests.support.pipes import stored
from tests.support.servers import free_port

INSTANCES = ["sql:main", "api:main"]
KEYS = ("mqtt:garden", "temperature", "greenhouse.1")


def ts(hour: int) -> datetime:
    return datetime(2024, 5, 1, hour, tzinfo=UTC)


def rows_in_db(database_url: str) -> list[tuple]:
    return [(t, json.loads(v)) for t, v in asyncio.run(stored(database_url))]


@pytest.fixture
def instance(request, users, login_as) -> str:
    login_as("alice")  # api:main acts as alice, who holds every pipe scope
    return request.param


@pytest.mark.parametrize("instance", INSTANCES, indirect=True)
def test_a_pipes_life(instance, database_url):
    pipe = mrsm.Pipe(*KEYS, instance=instance)
    assert repr(pipe) == ("Pipe('mqtt:garden', 'temperature', 'greenhouse.1', "
                          f"instance='{instance}')")
    assert not pipe.exists()
    assert pipe.get_rows() is None and pipe.get_data() is None  # as Meerschaum: no pipe, None

    pipe.parameters = {"unit": "C", "sensor": {"model": "DHT22", "pin": 4}}
    assert pipe.register() == (True, "Registered pipe mqtt:garden/temperature/greenhouse.1.")
    assert pipe.register() == (False, "A pipe with these keys exists.")
    assert pipe.exists()
    assert pipe.created_at is not None and pipe.created_at.tzinfo is not None
    empty = pipe.get_data()
    assert (list(empty.columns), len(empty)) == (["timestamp"], 0) and pipe.get_rows() == []
    assert str(empty["timestamp"].dtype) == "datetime64[ns, UTC]"

    assert pipe.sync([{"timestamp": "2024-05-01T12:00:00Z", "celsius": 21.5},
                      {"timestamp": ts(13), "celsius": 22}]) == \
        (True, "Inserted 2, updated 0 rows.")
    # A dict of lists; 13:00 is stored already: replaced, not duplicated.
    assert pipe.sync({"timestamp": [ts(13), ts(14)], "celsius": [23.0, None]}) == \
        (True, "Inserted 1, updated 1 rows.")
    assert pipe.get_rows() == [{"timestamp": ts(12), "celsius": 21.5},
                               {"timestamp": ts(13), "celsius": 23.0},
                               {"timestamp": ts(14), "celsius": None}]
    assert rows_in_db(database_url) == [(ts(12), {"celsius": 21.5}), (ts(13), {"celsius": 23.0}),
                                        (ts(14), {"celsius": None})]
    # begin inclusive, end exclusive; naive datetimes and strings are UTC.
    assert [r["timestamp"] for r in pipe.get_rows(begin=datetime(2024, 5, 1, 13),
                                                  end="2024-05-01T14:00:00")] == [ts(13)]

    frame = pipe.get_data(begin=ts(13))
    assert list(frame.columns) == ["timestamp", "celsius"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["timestamp"].tolist() == [pd.Timestamp(ts(13)), pd.Timestamp(ts(14))]
    assert frame["celsius"].iloc[0] == 23.0 and pd.isna(frame["celsius"].iloc[1])

    # parameters: what is added, changed and removed is saved; a fresh object reads it back.
    pipe.parameters["sensor"]["pin"] = 17
    del pipe.parameters["unit"]
    pipe.parameters["interval_seconds"] = 60
    assert pipe.edit() == (True, "Edited pipe mqtt:garden/temperature/greenhouse.1.")
    assert pipe.edit() == (True, "Pipe mqtt:garden/temperature/greenhouse.1 is unchanged.")
    assert mrsm.Pipe(*KEYS, instance=instance).parameters == {
        "sensor": {"model": "DHT22", "pin": 17}, "interval_seconds": 60}

    assert pipe.delete() == (True, "Deleted pipe mqtt:garden/temperature/greenhouse.1.")
    assert not pipe.exists()
    assert pipe.delete() == (False, "No such pipe.")
    assert rows_in_db(database_url) == []


@pytest.mark.parametrize("instance", INSTANCES, indirect=True)
def test_sync_registers_the_pipe_and_takes_a_dataframe(instance):
    pipe = mrsm.Pipe("plc:line.2", "power", instance=instance)  # no location
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(["2024-05-01T12:00:00Z", "2024-05-01T12:00:01.250Z"],
                                    format="ISO8601"),
        "watts": np.array([1500, 1720], dtype=np.int64),
        "ok": [True, False],
        "note": ["start", float("nan")],  # NaN is a missing value, as Meerschaum reads it
    })
    assert pipe.sync(frame) == (True, "Inserted 2, updated 0 rows.")
    assert repr(pipe) == f"Pipe('plc:line.2', 'power', instance='{instance}')"
    assert pipe.get_rows() == [
        {"timestamp": ts(12), "watts": 1500, "ok": True, "note": "start"},
        {"timestamp": datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=UTC), "watts": 1720,
         "ok": False, "note": None}]
    # The timestamp as the index, naive: taken as UTC.
    indexed = pd.DataFrame({"watts": [900]},
                           index=pd.DatetimeIndex([datetime(2024, 5, 1, 12)], name="timestamp"))
    assert pipe.sync(indexed) == (True, "Inserted 0, updated 1 rows.")
    assert pipe.get_rows()[0] == {"timestamp": ts(12), "watts": 900}
    # get_data of a pipe syncs into another one unchanged (a frame's missing cells as null).
    copy = mrsm.Pipe("plc:line.2", "power", "copy", instance=instance)
    assert copy.sync(pipe.get_data()) == (True, "Inserted 2, updated 0 rows.")
    assert list(pipe.get_data().columns) == ["timestamp", "note", "ok", "watts"]
    assert copy.get_rows() == [
        {"timestamp": ts(12), "watts": 900, "ok": None, "note": None},
        {"timestamp": datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=UTC), "watts": 1720,
         "ok": False, "note": None}]


@pytest.mark.parametrize("instance", INSTANCES, indirect=True)
def test_refused_syncs_say_why_and_write_nothing(instance, database_url):
    pipe = mrsm.Pipe(*KEYS, instance=instance)
    ok, msg = pipe.sync([{"timestamp": "2024-05-01T12:00:00Z", "v": 1}, {"v": 2}])
    assert (ok, msg) == (False, "Row 1 is not valid; nothing was written: missing timestamp")
    assert pipe.sync([{"timestamp": "yesterday", "v": 1}])[1].endswith(
        "nothing was written: timestamp is not an ISO 8601 date and time")
    assert pipe.sync([{"timestamp": ts(1), "v": float("inf")}])[1].endswith(
        "nothing was written: numbers must be finite (no NaN or Infinity)")
    assert pipe.sync({"timestamp": [ts(1), ts(2)], "v": [1]}) == (
        False, "A dict of lists needs lists of one length; these have timestamp: 2, v: 1.")
    assert pipe.sync("timestamp,v\n") == (
        False, "sync() takes a list of dicts, a dict of lists or a pandas DataFrame, not str.")
    assert pipe.sync([{"timestamp": ts(1)}, 5]) == (False, "Row 1 is not a dict.")
    assert pipe.sync([]) == (True, "Nothing to sync: no rows.")
    assert not pipe.exists()  # no refused sync registered it
    assert rows_in_db(database_url) == []

    bad = mrsm.Pipe("mqtt garden", "temperature", instance=instance)
    ok, msg = bad.register()
    assert not ok and msg.startswith("The request is not valid: connector_keys: 1 to 100 ")
    ok, msg = bad.sync([{"timestamp": ts(1)}])
    assert not ok and "connector_keys" in msg
    with pytest.raises(InstanceError) as err:
        bad.exists()
    assert err.value.status == 422 and "connector_keys" in err.value.fields


@pytest.mark.parametrize("instance", INSTANCES, indirect=True)
def test_a_sync_larger_than_one_request_goes_in_chunks(instance, database_url):
    pipe = mrsm.Pipe(*KEYS, instance=instance)
    count = 10_001  # one more than a request may carry
    rows = {"timestamp": pd.date_range("2024-01-01", periods=count, freq="s", tz="UTC"),
            "v": list(range(count))}
    assert pipe.sync(rows) == (True, f"Inserted {count}, updated 0 rows.")
    got = pipe.get_rows()
    assert len(got) == count and [r["v"] for r in got] == list(range(count))


@pytest.mark.parametrize("instance", INSTANCES, indirect=True)
def test_two_editors_of_different_parameters_keep_both_changes(instance):
    first = mrsm.Pipe(*KEYS, parameters={"a": 1, "b": 1}, instance=instance)
    assert first.register()[0]
    second = mrsm.Pipe(*KEYS, instance=instance)
    assert second.parameters == {"a": 1, "b": 1}
    first.parameters["a"] = 2
    assert first.exists() and first.parameters["a"] == 2  # exists() keeps unsaved changes
    second.parameters["b"] = 3
    assert first.edit()[0] and second.edit()[0]
    assert mrsm.Pipe(*KEYS, instance=instance).parameters == {"a": 2, "b": 3}
    # An edit of a pipe that was never read sends what differs from the stored parameters.
    third = mrsm.Pipe(*KEYS, parameters={"a": 2}, instance=instance)
    assert third.edit()[0]
    assert mrsm.Pipe(*KEYS, instance=instance).parameters == {"a": 2}
    gone = mrsm.Pipe("mqtt:garden", "humidity", parameters={"x": 1}, instance=instance)
    assert gone.edit() == (False, "No such pipe.")


@pytest.mark.parametrize("instance", INSTANCES, indirect=True)
def test_get_pipes_filters_by_keys(instance):
    for keys in [("mqtt:garden", "temperature", "greenhouse.1"),
                 ("mqtt:garden", "temperature", "greenhouse.2"),
                 ("mqtt:garden", "humidity", None), ("plc:line.2", "power", None)]:
        assert mrsm.Pipe(*keys, instance=instance).register()[0]
    conn = mrsm.get_connector(instance)
    names = lambda pipes: [str(p) for p in pipes]  # noqa: E731
    assert names(conn.get_pipes()) == [
        "mqtt:garden/humidity/-", "mqtt:garden/temperature/greenhouse.1",
        "mqtt:garden/temperature/greenhouse.2", "plc:line.2/power/-"]
    assert names(conn.get_pipes(connector_keys="mqtt:garden", metric_key="temperature")) == [
        "mqtt:garden/temperature/greenhouse.1", "mqtt:garden/temperature/greenhouse.2"]
    assert names(conn.get_pipes(metric_key=["power", "humidity"])) == [
        "mqtt:garden/humidity/-", "plc:line.2/power/-"]
    assert names(conn.get_pipes(location_key="-")) == [
        "mqtt:garden/humidity/-", "plc:line.2/power/-"]
    assert conn.get_pipes(connector_keys="nothing:here") == []
    [pipe] = conn.get_pipes(location_key="greenhouse.2")
    assert pipe == mrsm.Pipe("mqtt:garden", "temperature", "greenhouse.2", instance=instance)
    with pytest.raises(InstanceError, match="connector_keys"):
        conn.get_pipes(connector_keys="not a key")


def test_a_key_without_write_pipes_is_refused_and_an_absent_instance_reported(
        users, api_server, login_as):
    login_as("alice")
    token = mrsm.Token(label="dashboard", scopes=["read:pipes"], instance="api:main")
    assert token.register()[0]
    reader = mrsm.get_connector("api:reader", url=api_server.base_url,
                                api_key=token.get_api_key())
    pipe = mrsm.Pipe(*KEYS, instance=reader)
    assert pipe.sync([{"timestamp": ts(1), "v": 1}]) == (
        False, "This credential lacks the scope this route needs: write:pipes.")
    assert pipe.register()[0] is False
    assert not pipe.exists()  # reading is allowed: there is no such pipe

    away = mrsm.get_connector("api:away", url=f"http://127.0.0.1:{free_port()}",
                              api_key=token.get_api_key())
    pipe = mrsm.Pipe(*KEYS, instance=away)
    ok, msg = pipe.sync([{"timestamp": ts(1), "v": 1}])
    assert not ok and msg.startswith("Cannot reach http://127.0.0.1:")
    with pytest.raises(InstanceError, match="Cannot reach"):
        pipe.exists()
    with pytest.raises(InstanceError, match="Cannot reach"):
        pipe.get_rows()


def test_a_bad_row_in_a_later_chunk_is_named_by_its_place_in_the_whole_sync(users, login_as):
    pipe = mrsm.Pipe(*KEYS, instance="sql:main")
    rows = [{"timestamp": f"2024-01-01T00:00:{i % 60:02d}Z", "minute": i // 60}
            for i in range(10_003)]
    del rows[10_001]["timestamp"]
    assert pipe.sync(rows) == (
        # 10,000 rows of 60 distinct timestamps: within a request the last row of each wins.
        False, "Inserted 60, updated 0 rows (the first 10000), then: "
               "Row 10001 is not valid; nothing was written: missing timestamp")


WITHOUT_PANDAS = '''
import sys

class NoPandas:
    """As if pandas were not installed: every import of it fails."""
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoPandas())
import service as mrsm

pipe = mrsm.Pipe("mqtt:garden", "temperature", "greenhouse.1")
print(pipe.sync([{"timestamp": "2024-05-01T12:00:00Z", "celsius": 21.5}]))
print(pipe.get_rows())
print("pandas" in sys.modules, "numpy" in sys.modules)
try:
    pipe.get_data()
except ImportError as err:
    print(type(err).__name__, err.name, err)
'''


def test_without_pandas_get_data_names_the_extra_and_the_rest_works(database_url, tmp_path):
    proc = subprocess.run([sys.executable, "-c", WITHOUT_PANDAS], capture_output=True,
                          text=True, timeout=60, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                          env=base_env(database_url, tmp_path / "absent.toml"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.splitlines() == [
        "(True, 'Inserted 1, updated 0 rows.')",
        "[{'timestamp': datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc), "
        "'celsius': 21.5}]",
        "False False",  # nothing but get_data ever imports pandas
        "ImportError pandas Pipe.get_data() returns a pandas DataFrame and needs pandas: "
        "pip install 'mrsm-tokens[pandas]' (or use Pipe.get_rows() for plain dicts).",
    ]
