"""The log handler: JSON lines, INFO written in batches, WARNING at once, nothing lost."""

from __future__ import annotations

import io
import json
import logging
import time

from service.logs import FLUSH_SECONDS, MAX_PENDING, BatchingHandler, JsonFormatter


def make_logger(stream: io.StringIO) -> tuple[logging.Logger, BatchingHandler]:
    handler = BatchingHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.batching.{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger, handler


def test_info_lines_arrive_within_the_flush_interval():
    stream = io.StringIO()
    logger, _ = make_logger(stream)
    for n in range(3):
        logger.info("line %d", n)
    deadline = time.monotonic() + FLUSH_SECONDS * 10
    while stream.getvalue().count("\n") < 3:
        assert time.monotonic() < deadline, "INFO lines were never written"
        time.sleep(0.01)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["line 0", "line 1", "line 2"]


def test_a_warning_is_written_at_once_with_what_came_before():
    stream = io.StringIO()
    logger, _ = make_logger(stream)
    logger.info("before")
    logger.warning("now")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [("INFO", "before"),
                                                                    ("WARNING", "now")]


def test_flush_writes_everything_pending():
    stream = io.StringIO()
    logger, handler = make_logger(stream)
    for n in range(1000):  # past one batch
        logger.info("n=%d", n)
    handler.flush()
    assert stream.getvalue().count("\n") == 1000


def test_the_json_formatter_writes_one_parseable_line():
    record = logging.LogRecord("service.x", logging.WARNING, __file__, 1, "odd \"text\"\nhere",
                               None, None)
    record.fields = {"status": 503}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING"
    assert parsed["message"] == "odd \"text\"\nhere"
    assert parsed["status"] == 503
    assert parsed["time"].endswith("Z") and len(parsed["time"]) == len("2026-01-01T00:00:00.000Z")


def test_lines_added_while_batches_are_written_are_all_written_once_in_order():
    # The access line is appended without the handler's lock while the writer thread takes
    # batches from the other end: nothing may be lost, doubled or reordered.
    stream = io.StringIO()
    handler = BatchingHandler(stream, interval=0.001)
    for n in range(20_000):
        handler.write_line(str(n))
    handler.flush()
    assert stream.getvalue().split() == [str(n) for n in range(20_000)]


def test_a_writer_that_falls_behind_makes_the_caller_write():
    # With the writer thread asleep for an hour, MAX_PENDING lines are written by the
    # thread that logs them: memory stays bounded, and nothing is dropped.
    stream = io.StringIO()
    handler = BatchingHandler(stream, interval=3600)
    for n in range(MAX_PENDING - 1):
        handler.write_line(str(n))
    assert stream.getvalue() == ""
    handler.write_line("last")
    assert stream.getvalue().split() == [str(n) for n in range(MAX_PENDING - 1)] + ["last"]
