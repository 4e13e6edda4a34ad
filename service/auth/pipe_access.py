"""Which pipes a bound token may reach: its patterns, compiled once per principal.

A pattern is ``"<connector_keys>/<metric_key>/<location_key>"``; each part is a key or
``*`` (any key), and the location ``-`` means a pipe without one. Keys never hold ``/``
or ``*`` and ``-`` alone is not a key, so the text splits one way only. Patterns reaching
this module were validated when they were stored (service.tokens.schemas); here they are
only compiled and compared.

Matching is exact string equality per part, never LIKE or a regular expression, so no
character in a key means anything but itself. A compiled `PipeAccess` groups its patterns
by which parts are wildcards (at most 8 groups), so `allows` costs at most 8 set lookups
however many patterns there are; dropping the patterns another covers takes as many per
pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter

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
        pairs = zip(self.parts, other.parts, strict=True)
        return all(mine is None or mine == theirs for mine, theirs in pairs)

    def intersect(self, other: Pattern) -> Pattern | None:
        """The pipes both match, as one pattern; None when no pipe matches both."""
        parts = []
        for mine, theirs in zip(self.parts, other.parts, strict=True):
            if mine is not None and theirs is not None and mine != theirs:
                return None
            parts.append(theirs if mine is None else mine)
        return Pattern(*parts)


Mask = tuple[bool, bool, bool]  # which parts are keys (True) rather than wildcards


def _mask(pattern: Pattern) -> Mask:
    return tuple(p is not None for p in pattern.parts)  # type: ignore[return-value]


def _project(mask: Mask) -> Callable[[tuple], object]:
    """What a group's set holds of a pipe's keys (or a pattern's parts): its literal parts,
    a tuple, or the one part alone (itemgetter's own shape)."""
    indices = [i for i, literal in enumerate(mask) if literal]
    return itemgetter(*indices) if indices else (lambda keys: ())


_MASKS: list[Mask] = [(bool(b & 4), bool(b & 2), bool(b & 1)) for b in range(8)]
_PROJECT = {mask: _project(mask) for mask in _MASKS}
# For each shape, the other shapes whose literal parts are a subset of its own: those of
# the patterns that could cover a pattern of this shape.
_WIDER = {mask: [sub for sub in _MASKS if sub != mask
                 and all(mine or not theirs for mine, theirs in zip(mask, sub, strict=True))]
          for mask in _MASKS}


def _grouped(patterns: Iterable[Pattern]) -> dict[Mask, set]:
    groups: dict[Mask, set] = {}
    for pattern in patterns:
        mask = _mask(pattern)
        groups.setdefault(mask, set()).add(_PROJECT[mask](pattern.parts))
    return groups


class PipeAccess:
    """The pipes a credential may reach: any pipe one of its patterns matches.

    Immutable once built; an empty one reaches no pipe (a JWT whose patterns and its
    token's current ones no longer overlap)."""

    __slots__ = ("_groups", "patterns")

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        unique = list(dict.fromkeys(patterns))
        every = _grouped(unique)
        # Drop a pattern that another covers: the same pipes, fewer probes, a shorter claim.
        self.patterns: tuple[Pattern, ...] = tuple(p for p in unique if not any(
            sub in every and _PROJECT[sub](p.parts) in every[sub] for sub in _WIDER[_mask(p)]))
        self._groups = tuple((_PROJECT[mask], frozenset(known))
                             for mask, known in _grouped(self.patterns).items())

    @classmethod
    def of(cls, texts: Iterable[str] | None) -> PipeAccess | None:
        """Compiled stored patterns; None (every pipe) for None."""
        return None if texts is None else cls(Pattern.parse(t) for t in texts)

    def allows(self, connector_keys: str, metric_key: str, location_key: str | None) -> bool:
        """Whether the pipe with these keys (location None: none) is within reach."""
        keys = (connector_keys, metric_key,
                NO_LOCATION if location_key is None else location_key)
        for project, known in self._groups:
            if project(keys) in known:
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
