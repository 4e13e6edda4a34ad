"""`mrsm show pipes`, `register pipe`, `show data`, `delete pipe` on sql:main and api:main."""

from __future__ import annotations

import json

import pytest

from service import Pipe, Token, get_connector
from service.pipes.schemas import PipeDetailSchema, PipeListSchema

ROWS = [{"timestamp": "2024-05-01T12:00:00Z", "celsius": 21.5, "note": "dawn"},
        {"timestamp": "2024-05-01T13:00:00Z", "celsius": 22, "humidity": 40},
        {"timestamp": "2024-05-01T14:00:00Z", "celsius": 23.25, "note": "a, \"quoted\" one"}]


@pytest.fixture(params=["sql:main", "api:main"])
def instance(request, users, as_user) -> tuple[str, dict]:
    """(--instance, the environment it needs): api:main acts as alice."""
    return request.param, (as_user("alice") if request.param == "api:main" else {})


def _sync(database_url, keys=("mqtt:garden", "temperature", "greenhouse.1"), rows=ROWS):
    ok, msg = Pipe(*keys, instance=get_connector("sql:test", database_url=database_url)
                   ).sync(rows)
    assert ok, msg


def test_register_show_and_delete_pipes(mrsm, mrsm_tty, instance, database_url):
    name, env = instance
    result = mrsm("register", "pipe", "mqtt:garden", "temperature", "greenhouse.1",
                  "-i", name, **env)
    assert (result.returncode, result.stdout) == (
        0, "Registered pipe mqtt:garden/temperature/greenhouse.1.\n"), result.stderr
    result = mrsm("register", "pipe", "plc:line.2", "power", "--parameters",
                  '{"unit": "W"}', "-i", name, "--json", **env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert PipeDetailSchema().validate(out) == {}
    assert (out["location_key"], out["parameters"], out["row_count"]) == (None, {"unit": "W"}, 0)
    result = mrsm("register", "pipe", "plc:line.2", "power", "-i", name, **env)
    assert (result.returncode, result.error_line) == (1, "mrsm: A pipe with these keys exists.")

    result = mrsm("show", "pipes", "-i", name, **env)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["CONNECTOR", "METRIC", "LOCATION", "PARAMETERS", "CREATED"]
    assert [r.split()[:4] for r in rows] == [
        ["mqtt:garden", "temperature", "greenhouse.1", "{}"],
        ["plc:line.2", "power", "-", '{"unit":"W"}']]
    result = mrsm("show", "pipes", "-m", "power", "--json", "-i", name, **env)
    page = json.loads(result.stdout)
    assert PipeListSchema().validate(page) == {}
    assert [p["metric_key"] for p in page["items"]] == ["power"]
    assert mrsm("show", "pipes", "-l", "nowhere", "-i", name, **env).stdout == "No pipes match.\n"

    _sync(database_url, ("plc:line.2", "power", None), ROWS[:2])
    # Asked on a terminal, with the row count; "no" (the default) keeps the pipe.
    result = mrsm_tty(["delete", "pipe", "plc:line.2", "power", "-", "-i", name], [""], **env)
    assert "Delete pipe plc:line.2/power/- and its 2 rows permanently? [y/N] " in result.stderr
    assert result.returncode == 1
    assert result.error_line.endswith("] mrsm: Cancelled: nothing was deleted.")
    result = mrsm_tty(["delete", "pipe", "plc:line.2", "power", "-i", name], ["y"], **env)
    assert (result.returncode, result.stdout) == (
        0, "Deleted pipe plc:line.2/power/- (2 rows).\n"), result.stderr
    # Without a terminal, --yes is needed; an unknown pipe is said so before anything is asked.
    result = mrsm("delete", "pipe", "mqtt:garden", "temperature", "greenhouse.1", "-i", name,
                  **env)
    assert result.error_line == ("mrsm: The confirmation is missing and there is no terminal "
                                 "to ask: pass --yes.")
    result = mrsm("delete", "pipe", "mqtt:garden", "temperature", "greenhouse.1", "--yes",
                  "-i", name, **env)
    assert result.stdout == "Deleted pipe mqtt:garden/temperature/greenhouse.1 (0 rows).\n"
    result = mrsm("delete", "pipe", "mqtt:garden", "temperature", "greenhouse.1", "--yes",
                  "-i", name, **env)
    assert (result.returncode, result.error_line) == (1, "mrsm: No such pipe.")
    assert mrsm("show", "pipes", "-i", name, **env).stdout == "No pipes.\n"


def test_show_data_as_a_table_csv_and_json(mrsm, instance, database_url):
    name, env = instance
    _sync(database_url)
    keys = ["mqtt:garden", "temperature", "greenhouse.1"]
    result = mrsm("show", "data", *keys, "-i", name, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "TIMESTAMP             CELSIUS  HUMIDITY  NOTE",
        "2024-05-01T12:00:00Z  21.5               dawn",
        "2024-05-01T13:00:00Z  22       40",
        '2024-05-01T14:00:00Z  23.25              a, "quoted" one']
    result = mrsm("show", "data", *keys, "--csv", "--begin", "2024-05-01T13:00:00Z",
                  "-i", name, **env)
    # As the service's text/csv (lines end in CRLF, which reading as text makes "\n").
    assert result.stdout == ("timestamp,celsius,humidity,note\n"
                             "2024-05-01T13:00:00Z,22,40,\n"
                             '2024-05-01T14:00:00Z,23.25,,"a, ""quoted"" one"\n')
    # --end is exclusive, an offset is honoured (14:00+01:00 is 13:00Z).
    result = mrsm("show", "data", *keys, "--json", "--end", "2024-05-01T14:00:00+01:00",
                  "-i", name, **env)
    assert json.loads(result.stdout) == [ROWS[0]]
    result = mrsm("show", "data", *keys, "--begin", "2025-01-01", "-i", name, **env)
    assert result.stdout == ("No rows in mqtt:garden/temperature/greenhouse.1 in that time "
                             "range.\n")
    result = mrsm("show", "data", *keys, "--begin", "2025-01-01", "--csv", "-i", name, **env)
    assert result.stdout == "timestamp\n"


@pytest.mark.parametrize(("args", "error"), [
    (["show", "data", "mqtt:garden"],
     "mrsm: Give the pipe's keys: mrsm show data CONNECTOR METRIC [LOCATION] (the keys are "
     "in `mrsm show pipes`)."),
    (["register", "pipe", "a", "b", "c", "d"], "mrsm: Give the pipe's keys: mrsm register pipe "),
    (["show", "data", "a", "b", "--begin", "yesterday"],
     "mrsm: --begin is not a date or time: 'yesterday' (use ISO 8601, like 2024-05-01 or "
     "2024-05-01T12:00:00Z)."),
    (["show", "data", "a", "b", "--begin", "2024-05-02", "--end", "2024-05-01"],
     "mrsm: The request is not valid: end: must be later than begin"),
    (["show", "data", "mqtt:garden", "nothing"], "mrsm: No such pipe."),
    (["register", "pipe", "a b", "c"], "mrsm: The request is not valid: connector_keys: 1 to "),
    (["register", "pipe", "a", "b", "--parameters", "[1]"],
     "mrsm: --parameters must be a JSON object, like '{\"unit\": \"C\"}'."),
    (["register", "pipe", "a", "b", "--parameters", "{unit"], "mrsm: --parameters is not JSON: "),
    (["show", "pipes", "extra"], "mrsm: mrsm show pipes takes no argument here: extra"),
    (["show", "pipes", "-c", "no spaces"], "mrsm: The request is not valid: connector_keys: "),
])
def test_refusals_are_one_line(cli, args, error):
    result = cli(*args)
    assert result.returncode == 1
    assert result.error_line.startswith(error), result.stderr
    assert result.stdout == ""


def test_a_read_only_key_reads_but_cannot_register_or_delete(mrsm, users, api_server,
                                                             database_url):
    token = Token(label="dashboard", user="alice", scopes=["read:pipes"],
                  instance=get_connector("sql:test", database_url=database_url))
    assert token.register()[0]
    env = {"MRSM_API_URL": api_server.base_url, "MRSM_API_KEY": token.get_api_key()}
    _sync(database_url)
    keys = ["mqtt:garden", "temperature", "greenhouse.1"]
    assert mrsm("show", "data", *keys, "--csv", "-i", "api:main", **env).stdout.count("\n") == 4
    for args in (["register", "pipe", "a", "b"], ["delete", "pipe", *keys, "--yes"]):
        result = mrsm(*args, "-i", "api:main", **env)
        assert result.returncode == 1
        assert result.error_line.startswith(
            "mrsm: This credential lacks the scope this route needs: "), result.stderr
