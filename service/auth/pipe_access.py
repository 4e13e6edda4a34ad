"""Which pipes a bound token may reach: its patterns, compiled once per principal.

A pattern is ``"<connector_keys>/<metric_key>/<location_key>"``; each part is a key or
``*`` (any key), and the location ``-`` means a pipe without one. Keys never hold ``/``
or ``*`` and ``-`` alone is not a key, so the text splits one way only. Patterns reaching
this module were validated when they were stored (service.tokens.schemas); here they are
only compiled and compared.

Matching is exact string equality per part, never LIKE or a regular expression, so no
character in a key means anything but itself. A compiled `PipeAccess` groups its patterns
by which parts are wildcards (at most 8 groups), so `allows` costs at most 8 set lookups
however many patterns there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WILDCARD = "*"
NO_LOCATION = "-"
MAX_PATTERNS = 64

Part = str | None  # None: any key


@dataclass(frozen=True, slots=True)
class Pattern:
    connector_keys: Part
    metric_key: Part
    location_key: Part  # NO_LOCATION: the pipe has none

    @classmethod
    def parse(cls, text: str) -> Pattern:
        parts = text.split("/")
        if len(parts) != 3:
            raise ValueError("a pattern has three parts separated by '/'")
        return cls(*(None if p == WILDCARD else p for p in parts))

    def __str__(self) -> str:
        return "/".join(WILDCARD if p is None else p for p in self.parts)

    @property
    def parts(self) -> tuple[Part, Part, Part]:
        return self.connector_keys, self.metric_key, self.location_key

    def covers(self, other: Pattern) -> bool:
        """Whether every pipe `other` matches, this matches too."""
        return all(mine is None or mine == theirs for mine, theirs in zip(self.parts,
                                                                           other.parts))

    def intersect(self, other: Pattern) -> Pattern | None:
        """The pipes both match, as one pattern; None when no pipe matches both."""
        parts = []
        for mine, theirs in zip(self.parts, other.parts):
            if mine is not None and theirs is not None and mine != theirs:
                return None
            parts.append(theirs if mine is None else mine)
        return Pattern(*parts)


def _mask(pattern: Pattern) -> tuple[bool, bool, bool]:
    return tuple(p is not None for p in pattern.parts)  # type: ignore[return-value]


class PipeAccess:
    """The pipes a credential may reach: any pipe one of its patterns matches.

    Immutable once built; an empty one reaches no pipe (a JWT whose patterns and its
    token's current ones no longer overlap)."""

    __slots__ = ("_groups", "patterns")

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        unique = list(dict.fromkeys(patterns))
        # Drop a pattern that another covers: the same pipes, fewer probes.
        kept = [p for p in unique if not any(q != p and q.covers(p) for q in unique)]
        self.patterns: tuple[Pattern, ...] = tuple(kept)
        groups: dict[tuple[bool, bool, bool], set[tuple[str, ...]]] = {}
        for pattern in kept:
            groups.setdefault(_mask(pattern), set()).add(
                tuple(p for p in pattern.parts if p is not None))
        self._groups = tuple((mask, frozenset(keys)) for mask, keys in groups.items())

    @classmethod
    def of(cls, texts: Iterable[str] | None) -> PipeAccess | None:
        """Compiled stored patterns; None (every pipe) for None."""
        return None if texts is None else cls(Pattern.parse(t) for t in texts)

    def allows(self, connector_keys: str, metric_key: str, location_key: str | None) -> bool:
        """Whether the pipe with these keys (location None: none) is within reach."""
        keys = (connector_keys, metric_key,
                NO_LOCATION if location_key is None else location_key)
        for mask, known in self._groups:
            if tuple(k for k, literal in zip(keys, mask) if literal) in known:
                return True
        return False

    def covers(self, pattern: Pattern) -> bool:
        """Whether every pipe `pattern` matches is within reach. Keys are unbounded, so a
        wildcard is covered only by a wildcard: one pattern must cover it alone."""
        return any(mine.covers(pattern) for mine in self.patterns)

    def narrowed(self, texts: Iterable[str]) -> PipeAccess:
        """The pipes within reach of both this and the patterns `texts`."""
        theirs = [Pattern.parse(t) for t in texts]
        both = (mine.intersect(other) for mine in self.patterns for other in theirs)
        return PipeAccess(p for p in both if p is not None)

    def texts(self) -> list[str]:
        return [str(p) for p in self.patterns]

    def columns(self) -> tuple[list[Part], list[Part], list[Part]]:
        """The patterns as three parallel arrays (None: any key), for SQL's unnest."""
        return ([p.connector_keys for p in self.patterns],
                [p.metric_key for p in self.patterns],
                [p.location_key for p in self.patterns])


def access_of(stored: Iterable[str] | None, claimed: Iterable[str] | None = None
              ) -> PipeAccess | None:
    """A credential's reach: its token's stored patterns, narrowed by those its JWT carries.

    A JWT never reaches more than it was issued for, nor more than its token reaches now."""
    access = PipeAccess.of(stored)
    if claimed is None:
        return access
    if access is None:
        return PipeAccess.of(claimed)
    return access.narrowed(claimed)
