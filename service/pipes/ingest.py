"""Pipe rows of concurrent requests written together, by the process's
service.groups.GroupWriter: what one group writes, and for whom.

Each request keeps its contract as if written alone, one after the other in arrival order:
all its rows or none; its own inserted and updated counts (a row that an earlier request of
the group inserted is one this request replaced); a later request's row wins. A request
whose write fails (its pipe deleted meanwhile, a row the database refuses) fails alone:
the group is written again with each request in a savepoint of its own, and the others land.
Every answer waits for the commit that holds its rows: the one statement that writes the
rows of existing pipes, or the transaction that registers a pipe and writes its rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from service.groups import AGAIN
from service.pipes import repo
from service.pipes.repo import Keys
from service.pipes.rows import Rows

Written = tuple[int, int] | None  # (inserted, updated), or None: no such pipe


@dataclass(eq=False)
class Pending:
    """One request's write: its rows (parse_rows); `create` registers the pipe when it
    does not exist."""

    keys: Keys
    batch: Rows
    create: bool

    @property
    def rows(self) -> int:
        return len(self.batch.timestamps)


async def write_together(conn: asyncpg.Connection, group: list[Pending]) -> list[Written]:
    """Per request what it wrote. In a transaction, the whole group is written there.
    Outside one, the rows of the pipes that exist go in one statement, its own transaction,
    and a request left for a transaction is answered AGAIN: one whose pipe it registers, or
    every request when the statement met another writer (then nothing was written)."""
    results: list[Written] = [None] * len(group)
    if not conn.is_in_transaction():
        try:
            await _write(conn, group, list(range(len(group))), results, at_once=True)
        except repo.Contended:
            return [AGAIN] * len(group)
        again = _after_first_creator(group, results)
        return [AGAIN if i in again else written for i, written in enumerate(results)]
    await _write(conn, group, list(range(len(group))), results, at_once=False)
    again = _after_first_creator(group, results)
    if again:
        await repo.create_pipes(conn, list({group[i].keys: None for i in again}))
        await _write(conn, group, sorted(again), results, at_once=False)
    return results


def _after_first_creator(group: list[Pending], results: list[Written]) -> set[int]:
    """The requests whose pipe was not found, from the first that registers it on: a pipe
    that does not exist is registered by the first request that asks for it, and those
    before it did not find it."""
    first_creator: dict[Keys, int] = {}
    for index, pending in enumerate(group):
        if results[index] is None and pending.create:
            first_creator.setdefault(pending.keys, index)
    if not first_creator:
        return set()
    return {i for i, p in enumerate(group)
            if results[i] is None and i >= first_creator.get(p.keys, len(group))}


async def _write(conn: asyncpg.Connection, group: list[Pending], members: list[int],
                 results: list[Written], *, at_once: bool) -> None:
    """Write the rows of group[i] for i in `members`, filling results[i]; `at_once`: in one
    statement outside a transaction (repo.write_rows_at_once)."""
    pipes: dict[Keys, int] = {}
    for i in members:
        pipes.setdefault(group[i].keys, len(pipes))
    bodies = [group[i].batch.body for i in members]
    write = repo.write_rows_at_once if at_once else repo.write_rows
    if not _apart(group, members):
        await _write_shared(conn, write, group, members, results, pipes, bodies)
        return
    # No row is written twice (the usual case: a lone request, or devices' batches of their
    # own times): each request's rows go as they are, one request after the other.
    slots: list[int] = []
    stamps: list[str] = []
    sources: list[int] = []
    positions: list[int] = []
    spans: list[tuple[int, int]] = []
    for source, i in enumerate(members):
        batch = group[i].batch
        count = len(batch.stamps)
        spans.append((len(stamps), len(stamps) + count))
        slots += [pipes[group[i].keys]] * count
        stamps += batch.stamps
        sources += [source] * count
        positions += batch.positions
    found, outcome = await write(conn, list(pipes), bodies, slots, stamps, sources, positions)
    for (begin, end), i in zip(spans, members, strict=True):
        if pipes[group[i].keys] in found:
            inserted = outcome[begin:end].count(True)
            results[i] = (inserted, end - begin - inserted)


def _apart(group: list[Pending], members: list[int]) -> bool:
    """Whether no two of these requests write the same row: per pipe, their spans of time
    (each request's timestamps are sorted) do not meet."""
    spans: dict[Keys, list[tuple[datetime, datetime]]] = {}
    for i in members:
        timestamps = group[i].batch.timestamps
        if timestamps:
            spans.setdefault(group[i].keys, []).append((timestamps[0], timestamps[-1]))
    for ranges in spans.values():
        ranges.sort()
        for (_, end), (begin, _) in itertools.pairwise(ranges):
            if begin <= end:
                return False
    return True


async def _write_shared(conn: asyncpg.Connection, write, group: list[Pending],
                        members: list[int], results: list[Written], pipes: dict[Keys, int],
                        bodies: list[str]) -> None:
    """`_write` for requests that share rows: each row written once, by the later arrival,
    and counted for each request that wrote it."""
    writers: list[list[int]] = []  # per row the members that wrote it, in order
    slots: list[int] = []
    stamps: list[str] = []  # as the database reads them (Rows.stamps)
    sources: list[int] = []  # the index in `bodies` of the row that wins
    positions: list[int] = []
    rows: dict[tuple[int, datetime], int] = {}  # (pipe slot, timestamp) -> row index
    for source, i in enumerate(members):
        batch = group[i].batch
        slot = pipes[group[i].keys]
        for ts, stamp, position in zip(batch.timestamps, batch.stamps, batch.positions,
                                       strict=True):
            k = rows.get((slot, ts))
            if k is None:
                rows[slot, ts] = len(stamps)
                writers.append([i])
                slots.append(slot)
                stamps.append(stamp)
                sources.append(source)
                positions.append(position)
            else:
                writers[k].append(i)
                # The later arrival wins (the same instant, perhaps written otherwise).
                sources[k], positions[k], stamps[k] = source, position, stamp
    found, outcome = await write(conn, list(pipes), bodies, slots, stamps, sources, positions)
    counts = {i: [0, 0] for i in members if pipes[group[i].keys] in found}
    for fresh, who in zip(outcome, writers, strict=True):
        if fresh is None:
            continue
        # The first writer of a new row inserted it; every later one replaced it.
        counts[who[0]][0 if fresh else 1] += 1
        for i in who[1:]:
            counts[i][1] += 1
    for i, (inserted, updated) in counts.items():
        results[i] = (inserted, updated)
