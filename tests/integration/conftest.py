"""Fixtures over the real local platform (deployer_localplatform): two clusters, a registry and
the GCP stand-in, started once per test session in a fresh state folder and stopped at its end.

The first session on a machine builds the pinned Kubernetes binaries (minutes, once); later
sessions start the platform in seconds. To iterate on tests against an already running
platform, set DEPLOYER_TEST_PLATFORM_STATE to its state folder: the session then reuses it
(starting it if needed) and leaves it running.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deployer_localplatform.info import ClusterInfo, PlatformInfo
from deployer_localplatform.platform import Platform

REPO = Path(__file__).resolve().parents[2]
REUSE_ENV = "DEPLOYER_TEST_PLATFORM_STATE"
CLUSTER_NAMES = ("local-onprem", "local-gke")


def _progress(message: str) -> None:
    print(f"platform: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def platform_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deployer config folder: charts/ from the repo, clusters/ written by the platform."""
    folder = tmp_path_factory.mktemp("platform-config")
    (folder / "charts").symlink_to(REPO / "charts")
    return folder


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, platform_config_dir: Path) -> Iterator[PlatformInfo]:
    reuse = os.environ.get(REUSE_ENV)
    state = Path(reuse) if reuse else tmp_path_factory.mktemp("platform-state")
    local = Platform(state, config_dir=platform_config_dir, progress=_progress)
    info = local.up()
    yield info
    if not reuse:
        local.down()


@pytest.fixture(params=CLUSTER_NAMES)
def cluster(request: pytest.FixtureRequest, platform: PlatformInfo) -> ClusterInfo:
    """Each test using it runs once per local cluster."""
    return platform.cluster(request.param)


def _api_client(cluster: ClusterInfo, token: str):
    from kubernetes import client

    config = client.Configuration()
    config.host = cluster.server
    config.ssl_ca_cert = str(cluster.ca_file)
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(config)


@pytest.fixture
def token_client() -> Iterator[Callable[[ClusterInfo, str], object]]:
    """``token_client(cluster, token)``: a Kubernetes ApiClient sending that bearer token."""
    opened = []

    def make(cluster: ClusterInfo, token: str):
        opened.append(_api_client(cluster, token))
        return opened[-1]

    yield make
    for api in opened:
        api.close()


@pytest.fixture
def admin_client(token_client) -> Callable[[ClusterInfo], object]:
    """``admin_client(cluster)``: a Kubernetes ApiClient as the cluster's admin (system:masters)."""
    return lambda cluster: token_client(cluster, cluster.admin_token_file.read_text().strip())


@pytest.fixture
def namespace(cluster: ClusterInfo, admin_client, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace in ``cluster`` for one test, deleted afterwards."""
    import re

    from kubernetes import client

    core = client.CoreV1Api(admin_client(cluster))
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + f"-{os.getpid() % 10000}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods are refused until the controller-manager has made the namespace's default
    # ServiceAccount (the ServiceAccount admission plugin looks it up); Deployments merely retry.
    _wait_for(core.list_namespaced_service_account, name, lambda sa: sa.metadata.name == "default",
             what=f"ServiceAccount {name}/default")
    yield name
    core.delete_namespace(name)


@pytest.fixture
def wait_for() -> Callable[..., object]:
    """``wait_for(list_call, namespace, done, what=..., timeout=60)``: see _wait_for."""
    return _wait_for


def _wait_for(list_call: Callable, namespace: str, done: Callable[[object], bool], *, what: str,
             timeout: int = 60) -> object:
    """Watch ``list_call`` in ``namespace`` until an object satisfies ``done``; return it.

    Event-driven (a watch from the current list), so it returns as soon as the API server says
    so, and fails with ``what`` and the last state seen when ``timeout`` passes.
    """
    from kubernetes import watch

    listing = list_call(namespace)
    for item in listing.items:
        if done(item):
            return item
    last = listing.items[-1] if listing.items else None
    stream = watch.Watch()
    for event in stream.stream(list_call, namespace, resource_version=listing.metadata.resource_version,
                               timeout_seconds=timeout):
        last = event["object"]
        if event["type"] in ("ADDED", "MODIFIED") and done(last):
            stream.stop()
            return last
    raise AssertionError(f"{what} did not happen within {timeout}s; last seen: {last}")


@pytest.fixture(scope="module")
def synced_config_dir(platform: PlatformInfo, platform_config_dir: Path) -> Path:
    """The platform's config folder after `deployer cluster sync --all` (namespaces and RBAC in
    place, the deployer identities bound), once per test module: other modules may change RBAC."""
    from deployer.cli.main import main

    assert main(["--config-dir", str(platform_config_dir), "cluster", "sync", "--all"]) == 0
    return platform_config_dir


# --- PostgreSQL (the deploy page's team database) ----------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """One real PostgreSQL server per session (tests/integration/postgres.py)."""
    from tests.integration.postgres import PostgresServer

    with PostgresServer.start() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database of its own on the session's server, as a URL."""
    return postgres_server.database()


@pytest.fixture
def git_service(tmp_path: Path, synced_config_dir: Path, platform: PlatformInfo,
                monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path]:
    """(config folder, service name, git repository): a fresh service on both clusters whose build
    context is the test's own git repository (``tests.integration.pages_kit``)."""
    from tests.integration.pages_kit import make_git_service

    return make_git_service(tmp_path, synced_config_dir, platform, monkeypatch)


# --- the browser (Playwright driving Debian's chromium; tests/integration/browser.py) ---------------

@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from tests.integration.browser import launched_browser

    yield from launched_browser()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser context and page; errors the page logs or requests that fail fail the test."""
    from tests.integration.browser import fresh_page

    yield from fresh_page(browser)
