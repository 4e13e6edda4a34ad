"""PipeAccess: the compiled patterns decide exactly as the patterns read, however grouped."""

from __future__ import annotations

import itertools
import random

import pytest

from service.auth.pipe_access import Pattern, PipeAccess, access_of

KEYS = ["a", "b", "a_b"]
LOCATIONS = ["a", "-"]
# "z" is in no pattern: a key a wildcard matches and no literal does.
PIPES = list(itertools.product(KEYS + ["z"], KEYS + ["z"], LOCATIONS + ["z"]))


def naive(patterns: list[Pattern], pipe: tuple[str, str, str]) -> bool:
    return any(all(p is None or p == k for p, k in zip(pattern.parts, pipe, strict=True))
               for pattern in patterns)


def reach(access: PipeAccess, pipe: tuple[str, str, str]) -> bool:
    ck, mk, lk = pipe
    return access.allows(ck, mk, None if lk == "-" else lk)


def random_patterns(rng: random.Random, n: int) -> list[Pattern]:
    return [Pattern(rng.choice(KEYS + [None]), rng.choice(KEYS + [None]),
                    rng.choice(LOCATIONS + [None])) for _ in range(n)]


def test_allows_and_narrowed_agree_with_the_patterns_read_literally():
    rng = random.Random(7)
    for _ in range(500):
        mine = random_patterns(rng, rng.randint(1, 6))
        theirs = random_patterns(rng, rng.randint(1, 4))
        access = PipeAccess(mine)
        narrowed = access.narrowed([str(p) for p in theirs])
        for pipe in PIPES:
            assert reach(access, pipe) == naive(mine, pipe), (mine, pipe)
            assert reach(narrowed, pipe) == (naive(mine, pipe) and naive(theirs, pipe))
        # Dropping covered patterns changes nothing but the list.
        assert all(reach(PipeAccess(access.patterns), p) == reach(access, p) for p in PIPES)
        # covers: every pipe the pattern matches is within reach (the ceiling's test).
        for pattern in theirs:
            assert access.covers(pattern) == all(
                naive(mine, pipe) for pipe in PIPES if naive([pattern], pipe)), (mine, pattern)


def test_covered_patterns_are_dropped_and_order_kept():
    access = PipeAccess.of(["a/b/-", "a/*/*", "x/y/z", "a/*/*", "*/y/z"])
    assert access.texts() == ["a/*/*", "*/y/z"]
    assert PipeAccess.of(["*/*/*", "a/b/c"]).texts() == ["*/*/*"]


@pytest.mark.parametrize(("stored", "claimed", "expected"), [
    (None, None, None),
    (["a/*/*"], None, ["a/*/*"]),
    (None, ["a/*/*"], ["a/*/*"]),
    (["a/*/*"], ["*/b/-"], ["a/b/-"]),
    (["a/*/*"], ["b/*/*"], []),
])
def test_a_jwt_reaches_what_its_claim_and_its_token_both_allow(stored, claimed, expected):
    access = access_of(stored, claimed)
    assert (access.texts() if access is not None else None) == expected


def test_a_wildcard_is_covered_only_by_a_wildcard():
    access = PipeAccess.of(["a/b/-", "a/c/-"])
    assert not access.covers(Pattern.parse("a/*/-"))
    assert access.covers(Pattern.parse("a/b/-"))
    assert PipeAccess.of(["a/*/*"]).covers(Pattern.parse("a/x/-"))
    assert not PipeAccess.of(["a/*/-"]).covers(Pattern.parse("a/x/*"))
