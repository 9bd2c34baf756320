from __future__ import annotations

import pytest

from deployer import redact
from deployer.credentials.static import StaticToken
from deployer.errors import CredentialsError


def test_token_from_env(monkeypatch) -> None:
    monkeypatch.setenv("T_ENV", "tok-1234567890\n")
    source = StaticToken("dc1", env="T_ENV")
    assert source.token() == "tok-1234567890"
    assert "T_ENV" in source.describe() and "tok-" not in repr(source)


def test_missing_env_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("T_MISSING", raising=False)
    with pytest.raises(CredentialsError, match="environment variable T_MISSING is not set") as caught:
        StaticToken("dc1", env="T_MISSING").token()
    assert caught.value.exit_code == 4


def test_file_is_reread_after_invalidate(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text("first-token-value")
    source = StaticToken("dc1", file=path)
    assert source.token() == "first-token-value"
    path.write_text("second-token-value")
    assert source.token() == "first-token-value"  # cached until a 401 says otherwise
    source.invalidate()
    assert source.token() == "second-token-value"


def test_bad_file_contents_never_echo_the_value(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text("two words-secretish")
    with pytest.raises(CredentialsError) as caught:
        StaticToken("dc1", file=path).token()
    assert "secretish" not in str(caught.value)


def test_registered_secrets_are_scrubbed() -> None:
    redact.register("very-secret-token-abc")
    text = redact.scrub("header had very-secret-token-abc and Authorization: Bearer zzzzzzzzzzzzzzzzzzzz")
    assert "very-secret" not in text and "zzzz" not in text
    assert text.count(redact.MASK) == 2
