"""RFC 7386 merge patch: the RFC's own examples (Appendix A)."""

from __future__ import annotations

import pytest

from service.pipes.merge import merge_patch

RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("target, patch, result", RFC_EXAMPLES)
def test_rfc_7386_examples(target, patch, result):
    assert merge_patch(target, patch) == result


def test_inputs_are_not_modified():
    target = {"a": {"b": 1}}
    patch = {"a": {"c": 2}}
    assert merge_patch(target, patch) == {"a": {"b": 1, "c": 2}}
    assert target == {"a": {"b": 1}} and patch == {"a": {"c": 2}}
