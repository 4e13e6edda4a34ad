"""Unit tests of service.auth.apikeys: secrets, their checksum, and the API key format."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

import pytest

from service.auth import apikeys
from service.auth.apikeys import (
    API_KEY_PREFIX,
    hash_secret,
    make_api_key,
    new_secret,
    parse_api_key,
    parse_client_id,
    secret_matches,
    secret_well_formed,
)

CLIENT_ID = uuid.UUID("a85e2741-9c6b-4d44-8a0a-2f3c0e1d5b77")


@pytest.fixture(autouse=True)
def clean_tables():
    """Unit tests: no database, so nothing to clean (and none is started for them)."""


def key_of(text: str) -> str:
    return API_KEY_PREFIX + base64.b64encode(text.encode()).decode()


def test_secret_has_256_random_bits_and_a_checksum():
    secret = new_secret()
    body, check = secret[:43], secret[43:]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body)
    assert len(base64.urlsafe_b64decode(body + "=")) == 32  # 256 bits
    assert re.fullmatch(r"[0-9A-Za-z]{6}", check)
    assert check == apikeys._checksum(body)
    assert secret_well_formed(secret)


def test_secrets_do_not_repeat():
    secrets_ = {new_secret() for _ in range(2000)}
    assert len(secrets_) == 2000
    assert len({s[:43] for s in secrets_}) == 2000


def test_checksum_is_deterministic_and_catches_every_single_character_change():
    secret = new_secret()
    assert apikeys._checksum(secret[:43]) == apikeys._checksum(secret[:43])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(secret):
        other = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        typo = secret[:i] + other + secret[i + 1:]
        assert not secret_well_formed(typo), (i, typo)
    # Swapped neighbours too (a classic typo), where they differ.
    for i in range(len(secret) - 1):
        if secret[i] != secret[i + 1]:
            swapped = secret[:i] + secret[i + 1] + secret[i] + secret[i + 2:]
            assert not secret_well_formed(swapped), i


@pytest.mark.parametrize("value", [
    "", "short", "x" * 49, "x" * 48, "x" * 50, "é" * 49, " " * 49,
])
def test_malformed_secrets(value):
    assert not secret_well_formed(value)


def test_wrong_length_around_a_real_secret():
    secret = new_secret()
    assert not secret_well_formed(secret + "A")
    assert not secret_well_formed(secret[:-1])
    assert not secret_well_formed(secret[1:])


def test_hash_is_sha256_and_compare_matches():
    secret = new_secret()
    digest = hash_secret(secret)
    assert digest == hashlib.sha256(secret.encode()).digest() and len(digest) == 32
    assert secret_matches(secret, digest)
    assert secret_matches(secret, memoryview(digest))  # asyncpg may hand back a buffer
    assert not secret_matches(new_secret(), digest)
    assert not secret_matches(secret, b"\x00" * 32)


def test_api_key_format_is_prefix_and_standard_base64():
    secret = new_secret()
    key = make_api_key(CLIENT_ID, secret)
    assert key.startswith("mrsm-key:")
    encoded = key[len("mrsm-key:"):]
    assert base64.b64decode(encoded, validate=True).decode() == f"{CLIENT_ID}:{secret}"
    assert encoded == base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    assert make_api_key(str(CLIENT_ID), secret) == key
    # The seed's example ("mrsm-key:YTg1ZTI3NDEtZ...") is base64 of a client ID
    # starting "a85e2741-", as this one does.
    assert key.startswith("mrsm-key:YTg1ZTI3NDEt")


def test_parse_round_trip():
    for _ in range(50):
        client_id, secret = uuid.uuid4(), new_secret()
        assert parse_api_key(make_api_key(client_id, secret)) == (client_id, secret)


def test_parse_accepts_an_upper_case_client_id():
    secret = new_secret()
    assert parse_api_key(key_of(f"{str(CLIENT_ID).upper()}:{secret}")) == (CLIENT_ID, secret)


@pytest.mark.parametrize("make", [
    lambda s: "",
    lambda s: API_KEY_PREFIX,
    lambda s: "mrsm-key" + make_api_key(CLIENT_ID, s)[9:],          # no colon in the prefix
    lambda s: "MRSM-KEY:" + make_api_key(CLIENT_ID, s)[9:],         # the parser is exact
    lambda s: "Bearer " + make_api_key(CLIENT_ID, s),
    lambda s: make_api_key(CLIENT_ID, s) + "\n",
    lambda s: make_api_key(CLIENT_ID, s)[:-2],                      # bad padding
    lambda s: API_KEY_PREFIX + "!!!!",                              # not base64
    lambda s: API_KEY_PREFIX + base64.urlsafe_b64encode(b"\xfb\xff:" * 30).decode(),
    lambda s: key_of(f"{CLIENT_ID}{s}"),                            # no separator
    lambda s: key_of(f"{CLIENT_ID}:"),                              # no secret
    lambda s: key_of(f":{s}"),                                      # no id
    lambda s: key_of(f"not-a-uuid:{s}"),
    lambda s: key_of(f"{CLIENT_ID.hex}:{s}"),                       # unhyphenated
    lambda s: key_of(f"{{{CLIENT_ID}}}:{s}"),                       # braces
    lambda s: key_of(f"urn:uuid:{CLIENT_ID}:{s}"),
    lambda s: key_of(f"{CLIENT_ID}:{s[:-1]}x" if s[-1] != "x" else f"{CLIENT_ID}:{s[:-1]}y"),
    lambda s: key_of(f"{CLIENT_ID}:{s}x"),                          # too long a secret
    lambda s: key_of(f"{CLIENT_ID}:{s}:{s}"),
    lambda s: API_KEY_PREFIX + base64.b64encode(f"{CLIENT_ID}:é{s[1:]}".encode()).decode(),
    lambda s: key_of(f"{CLIENT_ID}:{s}" + " " * 200),               # past the length bound
])
def test_parse_refuses_anything_we_could_not_have_issued(make):
    assert parse_api_key(make(new_secret())) is None


@pytest.mark.parametrize(("value", "expected"), [
    (str(CLIENT_ID), CLIENT_ID),
    (str(CLIENT_ID).upper(), CLIENT_ID),
    (CLIENT_ID.hex, None),
    (f"{{{CLIENT_ID}}}", None),
    (f"urn:uuid:{CLIENT_ID}", None),
    (" " + str(CLIENT_ID)[1:], None),
    (str(CLIENT_ID) + " ", None),
    ("", None),
    ("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", None),
])
def test_parse_client_id(value, expected):
    assert parse_client_id(value) == expected
