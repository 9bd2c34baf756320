"""GKE: a cluster's API server and CA, looked up by name through the GKE API.

A GKE cluster file needs only ``gke: {project, location, cluster}``: as ``gcloud container clusters
get-credentials`` does, deployer asks ``GET container.googleapis.com/v1/projects/{p}/locations/{l}/
clusters/{c}`` for ``endpoint`` (the server is ``https://{endpoint}``) and
``masterAuth.clusterCaCertificate`` (base64 PEM), with the cluster's own Google credential (it
needs ``container.clusters.get``, which ``roles/container.clusterViewer`` grants; `deployer cluster
provision` grants exactly that). The composition root caches the answer per cluster for one run.

Parsing and error mapping are pure functions of the answer; ``look_up`` is the one place that
sends the request. Google's error bodies carry no secret, but only their ``message`` is kept, and
scrubbed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from deployer import redact
from deployer.config.models import GkeLocation
from deployer.credentials.google import google_error_message
from deployer.errors import ApiError, ConfigError, ConfigProblem, CredentialsError, DeployerError, UnreachableError

GOOGLE_API = "https://container.googleapis.com"
PERMISSION = "container.clusters.get"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ControlPlane:
    """Where a GKE cluster's API server is and the CA that signed its certificate."""

    server: str
    ca_pem: str


@dataclass(frozen=True)
class ClusterRef:
    """One cluster file's GKE cluster, and where its ``gke.cluster`` field sits (for messages)."""

    name: str
    """The cluster file's name."""
    gke: GkeLocation
    file: str
    line: int | None = None
    column: int | None = None
    locate: Callable[[], tuple[int | None, int | None]] | None = None
    """Finds (line, column) when a message needs them: a lookup that succeeds never parses the
    file again for them."""

    def position(self) -> tuple[int | None, int | None]:
        if self.line is None and self.locate is not None:
            return self.locate()
        return self.line, self.column

    @property
    def resource(self) -> str:
        return f"projects/{self.gke.project}/locations/{self.gke.location}/clusters/{self.gke.cluster}"

    def url(self) -> str:
        # The stand-in (and a private endpoint) serve the container API beside IAM's.
        base = (self.gke.google_api_endpoint or GOOGLE_API).rstrip("/")
        return f"{base}/v1/{quote(self.resource, safe='/')}"

    def named(self) -> str:
        return (f"GKE cluster {self.gke.cluster!r} in project {self.gke.project!r}, "
                f"location {self.gke.location!r}")


def control_plane(ref: ClusterRef, answer: Any) -> ControlPlane:
    """The server and CA from a ``clusters.get`` answer (a ``Cluster`` resource)."""
    if not isinstance(answer, dict):
        raise ApiError(f"cluster {ref.name}: the GKE API answered {ref.resource} with something that is "
                       "not a Cluster resource")
    endpoint = answer.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint or any(c in endpoint for c in "/ \t\n"):
        status = answer.get("status")
        raise ApiError(f"cluster {ref.name}: the {ref.named()} has no endpoint yet"
                       + (f" (status {status})" if isinstance(status, str) else ""),
                       hint="Wait until the cluster is RUNNING, or set server (and ca) in the cluster file.")
    encoded = (answer.get("masterAuth") or {}).get("clusterCaCertificate") if isinstance(
        answer.get("masterAuth"), dict) else None
    try:
        ca_pem = base64.b64decode(encoded or "", validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        ca_pem = ""
    if "BEGIN CERTIFICATE" not in ca_pem:
        raise ApiError(f"cluster {ref.name}: the GKE API gave no usable masterAuth.clusterCaCertificate "
                       f"for the {ref.named()}",
                       hint="Set ca in the cluster file to the cluster's CA (file or inline PEM).")
    return ControlPlane(f"https://{endpoint}", ca_pem)


def lookup_error(ref: ClusterRef, status: int, body: bytes, identity: str) -> DeployerError:
    """What a refused ``clusters.get`` means for the user, by HTTP status (Google's error JSON:
    ``{"error": {"code", "message", "status"}}``)."""
    message = redact.scrub(google_error_message(body))
    said = f" (Google: {message})" if message else ""
    if status == 404:
        line, column = ref.position()
        return ConfigError([ConfigProblem(ref.file, line, column, "gke.cluster",
                                          f"the {ref.named()} does not exist{said}")],
                           hint="Check gke.project, gke.location and gke.cluster against "
                                "`gcloud container clusters list --project PROJECT`.")
    if status in (401, 403):
        return CredentialsError(
            f"cluster {ref.name}: {identity} may not read the {ref.named()} "
            f"(HTTP {status}; it needs {PERMISSION}, which roles/container.clusterViewer grants){said}",
            hint="Grant the account roles/container.clusterViewer on the project (`deployer cluster "
                 "provision` does), or set server and ca in the cluster file to skip the lookup.")
    return ApiError(f"cluster {ref.name}: the GKE API failed to look up the {ref.named()}: HTTP {status}{said}",
                    hint="Run again later; if it persists, set server and ca in the cluster file.", status=status)


def look_up(ref: ClusterRef, token: Callable[[], str], identity: str, *,
            timeout: float = TIMEOUT_SECONDS) -> ControlPlane:
    """Ask the GKE API for ``ref``'s control plane, authenticated with ``token()`` (a Google access
    token with the cloud-platform scope)."""
    from deployer.httpclient import NoAnswer, request_once

    url = ref.url()
    headers = [("Authorization", f"Bearer {token()}"), ("Accept", "application/json")]
    try:
        response = request_once(url, headers=headers, timeout=timeout)
    except NoAnswer as exc:
        raise UnreachableError(f"cluster {ref.name}: cannot reach the GKE API at {url.split('/v1/')[0]} to look "
                               f"up the {ref.named()}: {type(exc.cause).__name__}",
                               hint="Check the network path to the GKE API (gke.googleApiEndpoint when it is "
                                    "not Google's), or set server and ca in the cluster file.") from None
    if response.status != 200:
        raise lookup_error(ref, response.status, response.data, identity)
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    return control_plane(ref, answer)
