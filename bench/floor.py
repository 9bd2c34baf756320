"""The floor of B2: the requests a no-change cluster sync cannot skip, in a fresh Python process,
with only the library the product requires (google-auth, to turn a GKE key into a token).

Not deployer: a bench peer that shows what bounds deployer's B2 time. It reads its plan from a
JSON file the bench writes beforehand (so it parses no YAML and validates nothing), then, for
every cluster at once:

- GKE: a Google access token from the cluster's key file (google-auth's service account
  credentials, as deployer uses them), then the cluster's endpoint and CA from the GKE API;
- discovery of each API group version the objects use, the inventory ConfigMap, and one list per
  kind, each on its own TLS connection as deployer sends them, decoded from JSON.

It compares nothing, renders nothing, reports nothing and checks no file: whatever deployer does
beyond this is deployer's own cost, and a ratio against kubectl beyond this program's is out of
reach for any Python CLI that must use google-auth on this machine.

    python -m bench.floor PLAN.json [MODULE ...]

Each MODULE is imported first: ``pydantic click`` gives the floor of a CLI built on the libraries
deployer is built on (its file models, its command line).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import urllib.parse
from typing import Any


def _get(host: str, port: int, context: ssl.SSLContext | None, path: str, token: str) -> Any:
    connection = (http.client.HTTPSConnection(host, port, context=context, timeout=30) if context
                  else http.client.HTTPConnection(host, port, timeout=30))
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status not in (200, 404):
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return json.loads(body)
    finally:
        connection.close()


def _gke(cluster: dict[str, Any]) -> tuple[str, str, str]:
    """(server, CA PEM, access token) of a GKE cluster, found by name as deployer finds it."""
    import google.auth.transport.urllib3
    import google.oauth2.service_account
    import urllib3

    gke = cluster["gke"]
    credentials = google.oauth2.service_account.Credentials.from_service_account_file(
        gke["key_file"], scopes=["https://www.googleapis.com/auth/cloud-platform"])
    with urllib3.PoolManager() as pool:
        credentials.refresh(google.auth.transport.urllib3.Request(pool))
    endpoint = urllib.parse.urlsplit(gke["api"])
    answer = _get(endpoint.hostname or "", endpoint.port or 80, None,
                  f"/v1/projects/{gke['project']}/locations/{gke['location']}/clusters/{gke['cluster']}",
                  credentials.token)
    return (f"https://{answer['endpoint']}", base64.b64decode(answer["masterAuth"]["clusterCaCertificate"]).decode(),
            credentials.token)


def read_cluster(cluster: dict[str, Any], kinds: list[list[str]], inventory: str, counted: dict[str, int]) -> None:
    if "gke" in cluster:
        server, ca, token = _gke(cluster)
        context = ssl.create_default_context(cadata=ca)
    else:
        server = cluster["server"]
        context = ssl.create_default_context(cafile=cluster["ca_file"])
        with open(cluster["token_file"]) as file:
            token = file.read().strip()
    url = urllib.parse.urlsplit(server)

    def get(path: str) -> Any:
        return _get(url.hostname or "", url.port or 443, context, path, token)

    # As deployer reads: discovery of each group version beside the inventory, then a list per kind.
    versions = sorted({api_version for api_version, _kind in kinds})
    answers = _at_once(get, [*(("/api/" if "/" not in v else "/apis/") + v for v in versions), inventory])
    plurals = {(v, r["kind"]): r["name"] for v, answer in zip(versions, answers, strict=False)
               for r in answer.get("resources") or () if "/" not in r["name"]}
    lists = [("/api/" if "/" not in v else "/apis/") + f"{v}/{plurals[(v, k)]}?limit=500" for v, k in kinds]
    counted[cluster["name"]] = sum(len(answer.get("items") or ()) for answer in _at_once(get, lists))


def _at_once(work: Any, items: list[str]) -> list[Any]:
    results: list[Any] = [None] * len(items)

    def one(i: int) -> None:
        results[i] = work(items[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(result is None for result in results):
        raise RuntimeError("a read failed")
    return results


def main(argv: list[str]) -> int:
    for module in argv[1:]:
        __import__(module)
    with open(argv[0]) as file:
        plan = json.load(file)
    counted: dict[str, int] = {}
    threads = [threading.Thread(target=read_cluster, args=(cluster, plan["kinds"], plan["inventory"], counted))
               for cluster in plan["clusters"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(counted) != len(plan["clusters"]):
        print(f"floor: a cluster failed: read {counted}", file=sys.stderr)
        return 1
    print(json.dumps(counted))
    return 0


def write_plan(clusters: list[dict[str, Any]], kinds: list[list[str]], inventory: str) -> str:
    """A plan file for ``main``: the clusters (see ``read_cluster``), the [apiVersion, kind] pairs
    the chart renders, and the inventory's path."""
    handle, name = tempfile.mkstemp(prefix="deployer-bench-floor-", suffix=".json")
    with os.fdopen(handle, "w") as file:
        json.dump({"clusters": clusters, "kinds": kinds, "inventory": inventory}, file)
    return name


if __name__ == "__main__":
    sys.stdout.flush()
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)  # as deployer's console script exits: no interpreter teardown
