"""Answers and refusals in the shapes Google's clients parse.

Google REST APIs refuse with ``{"error": {"code", "message", "errors": [...], "status"}}`` (the Go
client reads ``code``/``message``/``errors``, google-api-core reads ``status``); the OAuth token
endpoint refuses with RFC 6749's flat ``{"error", "error_description"}``, which google-auth turns
into ``RefreshError("<error>: <error_description>")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# google.rpc.Code name -> the legacy "reason" Google still puts in errors[].reason
_REASONS = {
    "INVALID_ARGUMENT": "badRequest",
    "FAILED_PRECONDITION": "failedPrecondition",
    "UNAUTHENTICATED": "authError",
    "PERMISSION_DENIED": "forbidden",
    "NOT_FOUND": "notFound",
    "ALREADY_EXISTS": "alreadyExists",
    "ABORTED": "aborted",
    "INTERNAL": "backendError",
}

MISSING_CREDENTIAL = ("Request is missing required authentication credential. Expected OAuth 2 access "
                      "token, login cookie or other valid authentication credential. See "
                      "https://developers.google.com/identity/sign-in/web/devconsole-project.")
INVALID_CREDENTIAL = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
                      "login cookie or other valid authentication credential. See "
                      "https://developers.google.com/identity/sign-in/web/devconsole-project.")


@dataclass
class Response:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    # a short, secret-free word for the request log (the Google status or OAuth error)
    outcome: str = ""
    # a body that is not JSON (the sign-in pages, redirects), sent as it is instead of ``body``
    content: bytes | None = None
    content_type: str = "application/json; charset=UTF-8"


class GoogleApiError(Exception):
    def __init__(self, code: int, status: str, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details  # google.rpc.Status details, as the newer APIs (iamcredentials) add

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global",
                                      "reason": _REASONS.get(self.status, "unknown")}],
                          "status": self.status}}
        if self.details:
            body["error"]["details"] = self.details
        headers = {}
        if self.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        return Response(self.code, body, headers, outcome=self.status)


def invalid_argument(message: str) -> GoogleApiError:
    return GoogleApiError(400, "INVALID_ARGUMENT", message)


def not_found(message: str = "Requested entity was not found.") -> GoogleApiError:
    return GoogleApiError(404, "NOT_FOUND", message)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        return Response(self.status, {"error": self.error, "error_description": self.description},
                        outcome=self.error)
