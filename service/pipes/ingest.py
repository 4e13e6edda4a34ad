"""Pipe rows of concurrent requests written together, by the process's
service.groups.GroupWriter: what one group's transaction writes, and for whom.

Each request keeps its contract as if written alone, one after the other in arrival order:
all its rows or none; its own inserted and updated counts (a row that an earlier request of
the group inserted is one this request replaced); a later request's row wins. A request
whose write fails (its pipe deleted meanwhile, a row the database refuses) fails alone:
the group is written again with each request in a savepoint of its own, and the others land.
Every answer waits for the commit that holds its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

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
    """Write the group's rows (in the caller's transaction); per request what it wrote."""
    results: list[Written] = [None] * len(group)
    await _write(conn, group, list(range(len(group))), results)
    # A pipe that does not exist is registered by the first request that asks for it; the
    # requests from that one on write to it, those before it did not find it.
    first_creator: dict[Keys, int] = {}
    for index, pending in enumerate(group):
        if results[index] is None and pending.create:
            first_creator.setdefault(pending.keys, index)
    if first_creator:
        await repo.create_pipes(conn, list(first_creator))
        again = [i for i, p in enumerate(group)
                 if results[i] is None and i >= first_creator.get(p.keys, len(group))]
        await _write(conn, group, again, results)
    return results


async def _write(conn: asyncpg.Connection, group: list[Pending], members: list[int],
                 results: list[Written]) -> None:
    """Write the rows of group[i] for i in `members`, filling results[i]."""
    pipes: dict[Keys, int] = {}
    bodies = [group[i].batch.body for i in members]
    # Per row the members that wrote it, in order.
    writers: list[list[int]] = []
    slots: list[int] = []
    stamps: list[datetime] = []
    sources: list[int] = []  # the index in `bodies` of the row that wins
    positions: list[int] = []
    if len(members) == 1:  # a lone request: its timestamps are distinct already
        [i] = members
        batch = group[i].batch
        pipes[group[i].keys] = 0
        count = len(batch.timestamps)
        writers = [[i] for _ in range(count)]
        slots, stamps, sources, positions = [0] * count, batch.timestamps, [0] * count, \
            batch.positions
    else:
        rows: dict[tuple[int, datetime], int] = {}  # (pipe slot, timestamp) -> row index
        for source, i in enumerate(members):
            pending = group[i]
            slot = pipes.setdefault(pending.keys, len(pipes))
            for ts, position in zip(pending.batch.timestamps, pending.batch.positions,
                                    strict=True):
                k = rows.get((slot, ts))
                if k is None:
                    rows[slot, ts] = len(stamps)
                    writers.append([i])
                    slots.append(slot)
                    stamps.append(ts)
                    sources.append(source)
                    positions.append(position)
                else:
                    writers[k].append(i)
                    sources[k], positions[k] = source, position  # the later arrival wins
    found, outcome = await repo.write_rows(conn, list(pipes), bodies, slots, stamps, sources,
                                           positions)
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
