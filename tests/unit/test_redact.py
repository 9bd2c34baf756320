"""The last line of defence against leaking secrets: what is masked, and what is not."""

from __future__ import annotations

import pytest

from deployer import redact
from deployer.redact import MASK, register, scrub


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    # The registry is process-wide: start each test without the secrets other tests registered.
    monkeypatch.setattr(redact, "_secrets", set())


def test_a_secret_of_eight_characters_is_masked_and_a_shorter_one_is_not():
    register("8chars-A")
    register("7char-B")
    assert scrub("one 8chars-A two 7char-B") == f"one {MASK} two 7char-B"


def test_nothing_to_register_is_not_an_error():
    register(None)
    register("")
    assert redact._secrets == set()


def test_a_secret_containing_another_is_masked_whole():
    # The longer one first: masking the shorter inside it would leave its tail readable.
    # (Alphabetically the shorter one comes first here, so only ordering by length gets it right.)
    register("secret-token")
    register("my-secret-token-x")
    assert scrub("sent my-secret-token-x then secret-token") == f"sent {MASK} then {MASK}"


def test_shapes_are_masked_without_being_registered():
    # Built from parts at run time: no committed file carries a private-key header.
    kind = "RSA " + "PRIVATE KEY"
    key = f"-----BEGIN {kind}-----\nMIIEow\nIBAAK\n-----END {kind}-----"
    text = scrub(f"Authorization: Bearer abc.def\nbearer {'x' * 16}\ntoken ya29.{'a' * 12}\n{key}\nend")
    assert text == f"Authorization: Bearer {MASK}\nbearer {MASK}\ntoken {MASK}\n{MASK}\nend"


def test_short_words_after_bearer_are_left_alone():
    assert scrub("the bearer token was refused") == "the bearer token was refused"
