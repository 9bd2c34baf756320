"""RSA keys, their X.509 certificates, and RS256 JWT checks, as Google's IAM and OAuth use them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

KEY_BITS = {"KEY_ALG_UNSPECIFIED": 2048, "KEY_ALG_RSA_2048": 2048, "KEY_ALG_RSA_1024": 1024}


def generate_key(algorithm: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS[algorithm])


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    # Google's key files carry PKCS#8 PEM private keys, which google-auth and Go's oauth2 read.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def certificate_pem(key: rsa.RSAPrivateKey, common_name: str, not_before: dt.datetime,
                    not_after: dt.datetime) -> str:
    """A self-signed certificate, which is what keys.get returns for TYPE_X509_PEM_FILE."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


class JwtError(ValueError):
    pass


@dataclass(frozen=True)
class Jwt:
    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes


def _b64url_decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError) as exc:
        raise JwtError("a segment is not base64url") from exc


def parse_jwt(assertion: str) -> Jwt:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise JwtError("a JWT has three dot-separated segments")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError as exc:
        raise JwtError("the header or claims are not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("the header and claims must be JSON objects")
    try:
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except UnicodeEncodeError as exc:
        raise JwtError("a JWT is ASCII") from exc
    return Jwt(header, claims, signing_input, _b64url_decode(parts[2]))


def signature_is_valid(jwt: Jwt, public_key_pem_text: str) -> bool:
    if jwt.header.get("alg") != "RS256":
        return False
    public_key = serialization.load_pem_public_key(public_key_pem_text.encode("ascii"))
    try:
        public_key.verify(jwt.signature, jwt.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
