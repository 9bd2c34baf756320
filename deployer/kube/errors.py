"""Turning what the Kubernetes API says (or fails to say) into deployer's errors.

Why this module exists: an API server answers a refusal with a ``Status`` object, and a network
failure surfaces as one of many socket, TLS and http.client exceptions. Callers should only ever see the small set in
``deployer.errors`` (forbidden, conflict, not found, unreachable, other API error), each saying
which cluster, which object, what happened and what to do. Only the safe parts of a response are
kept: the Status message, reason and causes. Request headers (the bearer token) are never read
here, and the original exception is chained with ``from`` for --debug.
"""

from __future__ import annotations

import json
import re
from typing import Any

from deployer.errors import ApiError, ConflictError, CredentialsError, ForbiddenError, NotFoundError, UnreachableError

_MANAGER = re.compile(r'conflicts? with "([^"]+)"')
# kube-apiserver answers a server-side apply whose object has a field the schema does not declare
# with a plain 500, whatever fieldValidation asks (kubernetes/kubernetes#122480, #139253): the
# object is invalid, not the server unwell.
_UNDECLARED_FIELD = re.compile(r"failed to create typed patch object \([^)]*\): (.*field not declared in schema.*)")
MAX_MESSAGE = 600


def parse_status(body: bytes | str | None) -> dict[str, Any]:
    """The Status object of an error response, or {} when the body is not one."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) and data.get("kind") == "Status" else {}


def conflict_managers(status: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, manager) pairs of a server-side apply conflict, from the Status causes."""
    pairs = []
    for cause in (status.get("details") or {}).get("causes") or []:
        match = _MANAGER.search(cause.get("message") or "")
        if match:
            pairs.append((cause.get("field") or "?", match.group(1)))
    return pairs


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def api_error(cluster: str, what: str, status_code: int, body: bytes | None, *, identity: str = "") -> Exception:
    """The deployer error for an HTTP error answer to ``what`` ("apply ClusterRole x") on ``cluster``."""
    status = parse_status(body)
    message = _short(status.get("message") or f"HTTP {status_code}")
    reason = status.get("reason")
    head = f"cluster {cluster}: {what} failed"
    if status_code == 401:
        return CredentialsError(f"cluster {cluster}: the API server rejected {identity or 'the credential'} "
                                "(401 Unauthorized) even after reading it again",
                                hint="The token is expired, revoked or for another cluster: renew the credential "
                                     "the cluster file names.")
    if status_code == 403:
        return ForbiddenError(f"{head}: forbidden: {message}", status=403, reason=reason,
                              hint=f"{identity or 'The credential'} lacks this permission on {cluster}: grant it, "
                                   "or run `deployer cluster verify` to compare its access with the chart.")
    if status_code == 404:
        return NotFoundError(f"{head}: not found: {message}", status=404, reason=reason)
    if status_code == 409:
        pairs = conflict_managers(status)
        if pairs:
            owners = sorted({manager for _, manager in pairs})
            fields = ", ".join(f"{field} (owned by {manager!r})" for field, manager in pairs)
            return ConflictError(
                f"{head}: field manager{'s' if len(owners) > 1 else ''} {', '.join(repr(o) for o in owners)} "
                f"changed fields deployer sets: {fields}",
                status=409, reason=reason,
                hint=f"Someone changed these by hand or with another tool ({', '.join(owners)}). Put the change "
                     "into the chart or cluster file, or re-run with --force-conflicts to take the fields back.")
        return ConflictError(f"{head}: conflict: {message}", status=409, reason=reason,
                             hint="The object changed while deployer worked on it: run the command again.")
    if status_code == 422:
        causes = "; ".join(_short(f"{c.get('field', '')}: {c.get('message', '')}")
                           for c in (status.get("details") or {}).get("causes") or [])
        return ApiError(f"{head}: the API server found the object invalid: {causes or message}",
                        status=422, reason=reason,
                        hint="Fix the template or values that produce this object; `deployer cluster render` "
                             "shows it.")
    undeclared = _UNDECLARED_FIELD.search(message) if status_code == 500 else None
    if undeclared:
        return ApiError(f"{head}: the object has an unknown field: {undeclared.group(1)}", status=status_code,
                        reason=reason,
                        hint="Fix the template that writes this field (often a misspelled name); `deployer cluster "
                             "render` shows the object, `kubectl explain` the fields its kind has.")
    if status_code == 429 or status_code >= 500:
        return ApiError(f"{head}: the API server could not serve it (HTTP {status_code}): {message}",
                        status=status_code, reason=reason,
                        hint="The API server is overloaded or unwell: check its health, then run again.")
    return ApiError(f"{head}: HTTP {status_code}: {message}", status=status_code, reason=reason)


def transport_error(cluster: str, server: str, what: str, exc: BaseException) -> UnreachableError:
    """A request that got no HTTP answer: refused, timed out, TLS failure."""
    cause: BaseException = exc
    while isinstance(inner := getattr(cause, "reason", None), BaseException):
        cause = inner  # MaxRetryError -> NewConnectionError / SSLError / ...
    text = _short(str(cause))
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in type(cause).__name__ or "SSLError" in text:
        return UnreachableError(f"cluster {cluster}: TLS verification of {server} failed during {what}: {text}",
                                hint="Check the cluster file's `ca`: it must be the CA that signed the API "
                                     "server's certificate, and `server` must match a name in it.")
    if "timed out" in text.lower() or "Timeout" in type(cause).__name__:
        return UnreachableError(f"cluster {cluster}: {what} timed out talking to {server}",
                                hint="The API server is slow or unreachable: check it, then run again.")
    return UnreachableError(f"cluster {cluster}: cannot reach the API server at {server} ({what}): "
                            f"{type(cause).__name__}: {text}")
