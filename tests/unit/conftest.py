"""Fixtures shared by unit tests that run a real local TLS server."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer_localplatform import pki


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(CA certificate, serving certificate for 127.0.0.1 and localhost, its key): files made at run
    time, so no key is ever committed."""
    folder = tmp_path_factory.mktemp("tls")
    ca = pki.new_ca("unit test CA")
    serving = pki.new_serving_cert(ca, "127.0.0.1")
    for name, data in (("ca.crt", ca.cert_pem), ("tls.crt", serving.cert_pem), ("tls.key", serving.key_pem)):
        (folder / name).write_bytes(data)
    return folder / "ca.crt", folder / "tls.crt", folder / "tls.key"
