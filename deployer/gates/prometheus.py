"""The one door to Prometheus: an instant query through its HTTP API (``GET /api/v1/query``).

Every way a query can go wrong (refused connection, timeout, an HTTP error, ``status: error``,
a result that is not a vector or scalar) is a ``PrometheusError`` naming the server by its
declared name and URL and the query; never the bearer token, which only travels in a header.
A gate treats every such error as a failure: it fails closed.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from deployer.config.models import PrometheusServer
from deployer.errors import DeployerError, ExitCode
from deployer.redact import register, scrub
from deployer.rollout.waves import Sample


class PrometheusError(DeployerError):
    exit_code = ExitCode.FAILED
    default_hint = "Check that the Prometheus named in the gate answers from where deployer runs."


@dataclass(frozen=True)
class Prometheus:
    name: str
    server: PrometheusServer
    timeout: float = 5.0

    def describe(self) -> str:
        return f"{self.name} ({self.server.url})"

    def query(self, promql: str) -> list[Sample]:
        """The samples of ``promql`` evaluated now."""
        url = f"{self.server.url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.server.bearer_token_env:
            token = os.environ.get(self.server.bearer_token_env)
            if not token:
                raise self._error(promql, f"the environment variable {self.server.bearer_token_env} that holds its "
                                          "token is not set")
            register(token)  # a server that echoes it in an error must not get it printed
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                body = json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            raise self._error(promql, f"HTTP {exc.code}{': ' + detail if detail else ''}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise self._error(promql, f"unreachable: {reason}") from None
        except ValueError:
            raise self._error(promql, "the answer is not JSON") from None
        if body.get("status") != "success":
            raise self._error(promql, f"{body.get('errorType', 'error')}: {body.get('error', 'no detail')}")
        return _samples(body.get("data") or {}, self, promql)

    def _error(self, promql: str, what: str) -> PrometheusError:
        return PrometheusError(scrub(f"Prometheus {self.describe()}: query {promql!r} failed: {what}"))


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _samples(data: dict[str, Any], server: Prometheus, promql: str) -> list[Sample]:
    kind, result = data.get("resultType"), data.get("result") or []
    try:
        if kind == "scalar":
            return [Sample({}, _number(result[1]))]
        if kind == "vector":
            return [Sample(dict(item.get("metric") or {}), _number(item["value"][1])) for item in result]
    except (TypeError, KeyError, IndexError, ValueError):
        raise server._error(promql, f"malformed {kind} result") from None
    raise server._error(promql, f"a {kind} result; a gate needs an instant vector or scalar")


def _number(text: Any) -> float:
    return float(text)  # Prometheus sends values as strings, "NaN" and "+Inf" included, which float reads
