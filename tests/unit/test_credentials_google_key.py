"""The service-account key file's signer: built without OpenSSL's slow RSA consistency check,
and still the key google-auth would use (its signatures verify with the public key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from deployer.credentials.google import _key_signer, key_file_token
from deployer.errors import CredentialsError


def _key_file(tmp_path: Path, private_key: str) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": "deployer@p.iam.gserviceaccount.com",
                                "token_uri": "https://oauth2.example/token", "private_key_id": "k1",
                                "private_key": private_key}))
    return path


def _new_pem() -> tuple[rsa.RSAPrivateKey, str]:
    """A key made for the test run: no key is ever written into the repository."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()


def test_the_signer_signs_with_the_files_key() -> None:
    key, pem = _new_pem()
    signer = _key_signer({"private_key": pem, "private_key_id": "k1"})
    signature = signer.sign(b"header.payload")
    key.public_key().verify(signature, b"header.payload", padding.PKCS1v15(), hashes.SHA256())  # raises if not
    assert signer.key_id == "k1"


def _cut_short(pem: str) -> str:
    """The key with most of its body gone, its PEM armour kept."""
    lines = pem.strip().split("\n")
    return "\n".join([lines[0], *lines[1:4], lines[-1]]) + "\n"


@pytest.mark.parametrize("damage", [_cut_short, lambda pem: "not pem at all"])
def test_a_damaged_key_is_malformed_and_never_echoed(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    _key, pem = _new_pem()
    damaged = damage(pem)
    source = key_file_token("gke-staging", _key_file(tmp_path, damaged), "from $GKE_KEY")
    with pytest.raises(CredentialsError, match="the key file from \\$GKE_KEY is malformed") as caught:
        source.token()  # fails while loading, before any request to the token endpoint
    body = [line for line in damaged.split("\n") if line and "-----" not in line]
    assert not any(line in str(caught.value) for line in body)


def test_a_key_becomes_a_token_at_the_stand_ins_token_endpoint(tmp_path: Path) -> None:
    """The whole path through google-auth's urllib3 transport: signed JWT out, access token back."""
    from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn

    with GcpStandIn(tmp_path / "gcp", projects=["key-project"]) as standin:
        key = AdminClient(standin.base_url).create_service_account_with_key("key-project", "deployer")
        path = tmp_path / "deployer-key.json"
        path.write_text(json.dumps(key))
        token = key_file_token("gke-staging", path, "from $GKE_KEY").token()
    assert token and token not in path.read_text()


def test_an_unreachable_token_endpoint_is_said_plainly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    _key, pem = _new_pem()
    path = _key_file(tmp_path, pem)
    path.write_text(path.read_text().replace("https://oauth2.example/token", f"http://127.0.0.1:{port}/token"))
    with pytest.raises(CredentialsError, match="cannot reach Google's token endpoint") as caught:
        key_file_token("gke-staging", path, "from $GKE_KEY").token()
    assert "BEGIN" not in str(caught.value)
