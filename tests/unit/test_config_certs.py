"""The CA bundle check of cluster files: what OpenSSL loads passes, anything else is named."""

from __future__ import annotations

from pathlib import Path

from deployer.config import certs
from deployer_localplatform import pki


def test_a_real_ca_bundle_passes_as_file_and_as_text(tmp_path: Path) -> None:
    pem = pki.new_ca("certs test CA").cert_pem
    (tmp_path / "ca.crt").write_bytes(pem + pki.new_ca("second CA").cert_pem)
    assert certs.problem_of_file(tmp_path / "ca.crt") is None
    assert certs.problem_of_text(pem.decode()) is None


def test_a_der_certificate_is_named_binary_not_decoded(tmp_path: Path) -> None:
    import ssl

    der = ssl.PEM_cert_to_DER_cert(pki.new_ca("der CA").cert_pem.decode())
    (tmp_path / "ca.der").write_bytes(der)
    problem = certs.problem_of_file(tmp_path / "ca.der")
    assert problem is not None and "binary" in problem and "PEM" in problem


def test_a_certificate_cut_short_is_refused(tmp_path: Path) -> None:
    lines = pki.new_ca("cut CA").cert_pem.decode().splitlines()
    cut = "\n".join(lines[:3] + lines[-1:]) + "\n"
    problem = certs.problem_of_text(cut)
    assert problem is not None and "OpenSSL cannot load" in problem


def test_missing_folder_and_empty_file_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "empty.crt").write_text("")
    assert certs.problem_of_file(tmp_path / "none.crt") == f"no such file: {tmp_path / 'none.crt'}"
    assert "is not a file" in (certs.problem_of_file(tmp_path) or "")
    assert "holds no PEM certificate" in (certs.problem_of_file(tmp_path / "empty.crt") or "")


def test_a_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    with (tmp_path / "huge.crt").open("wb") as file:
        file.truncate(certs.MAX_BUNDLE_BYTES + 10)
    problem = certs.problem_of_file(tmp_path / "huge.crt")
    assert problem is not None and "not a CA bundle" in problem
