"""The composition root finds a GKE cluster by name once per run, against the GCP stand-in in
process (real HTTP on 127.0.0.1, the real google-auth); building a client sends nothing to the
cluster's API server, so none runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deployer.app import App
from deployer.config.loader import load_config
from deployer.errors import ConfigError, CredentialsError
from deployer_localplatform import pki
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn

PROJECT = "lookup-project"
CA = pki.new_ca("lookup test CA").cert_pem.decode()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def standin(tmp_path):
    with GcpStandIn(tmp_path / "gcp", projects=[PROJECT]) as running:
        yield running


def config_for(tmp_path: Path, standin, cluster: str, *, viewer: bool = True):
    admin = AdminClient(standin.base_url)
    admin.add_gke_cluster(PROJECT, "europe-west1", "gke-1", "127.0.0.1:6443", CA)
    key = admin.create_service_account_with_key(PROJECT, "deployer")
    if viewer:
        admin.grant(PROJECT, "roles/container.clusterViewer", f"serviceAccount:{key['client_email']}")
    (tmp_path / "deployer-key.json").write_text(json.dumps(key))
    (tmp_path / "clusters").mkdir()
    (tmp_path / "charts").symlink_to(REPO / "charts")
    document = {"name": "gke-1", "provider": "gke", "environment": "staging", "registry": "127.0.0.1:5000/gke",
                "gke": {"project": PROJECT, "location": "europe-west1", "cluster": cluster,
                        "googleApiEndpoint": standin.base_url},
                "credential": {"type": "serviceAccountKey", "file": str(tmp_path / "deployer-key.json")},
                # a Kubernetes token: no Google identity, so the lookup uses the deploy credential
                "adminCredential": {"type": "token", "env": "GKE_ADMIN_TOKEN"}}
    (tmp_path / "clusters" / "gke-1.yaml").write_text(yaml.safe_dump(document))
    return load_config(tmp_path), admin


def lookups(admin: AdminClient, cluster: str = "gke-1") -> int:
    return admin.requests().get(f"GET /v1/projects/{PROJECT}/locations/europe-west1/clusters/{cluster}", 0)


def test_both_clients_of_a_run_share_one_lookup_and_its_endpoint(tmp_path: Path, standin) -> None:
    config, admin = config_for(tmp_path, standin, "gke-1")
    with App(config) as app:
        cluster = config.cluster("gke-1")
        # the admin client first: its credential is a Kubernetes token, so the deploy credential looks up
        admin_client = app.admin_client(cluster)
        deploy = app.client(cluster)
        assert deploy is not admin_client
        for client in (deploy, admin_client):
            assert client.endpoint.server == "https://127.0.0.1:6443" and client.endpoint.ca_data == CA
        assert "GKE_ADMIN_TOKEN" in admin_client.identity
    assert lookups(admin) == 1
    with App(config) as app:  # a new run asks again
        app.client(config.cluster("gke-1"))
    assert lookups(admin) == 2


def test_a_refused_lookup_is_asked_once_per_run_and_raised_to_every_client(tmp_path: Path, standin) -> None:
    config, admin = config_for(tmp_path, standin, "missing")
    with App(config) as app:
        cluster = config.cluster("gke-1")
        with pytest.raises(ConfigError) as first:
            app.client(cluster)
        with pytest.raises(ConfigError) as second:
            app.admin_client(cluster)
        assert second.value is first.value
    assert lookups(admin, "missing") == 1
    lines = (tmp_path / "clusters" / "gke-1.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if text.strip() == "cluster: missing")
    problem = first.value.problems[0]
    assert (Path(problem.file).name, problem.line, problem.field) == ("gke-1.yaml", line, "gke.cluster")


def test_a_lookup_that_succeeds_does_not_read_the_cluster_file_again(tmp_path: Path, standin, monkeypatch) -> None:
    from deployer.config import yamlsafe

    config, _admin = config_for(tmp_path, standin, "gke-1")

    def parsed(*_args: object) -> None:
        raise AssertionError("the cluster file was parsed again for a lookup that succeeded")

    monkeypatch.setattr(yamlsafe, "load_yaml", parsed)
    with App(config) as app:
        assert app.client(config.cluster("gke-1")).endpoint.server == "https://127.0.0.1:6443"


def test_an_account_without_cluster_viewer_is_a_credentials_error(tmp_path: Path, standin) -> None:
    config, _admin = config_for(tmp_path, standin, "gke-1", viewer=False)
    with App(config) as app, pytest.raises(CredentialsError, match="container.clusters.get"):
        app.client(config.cluster("gke-1"))


def test_a_cluster_still_connecting_holds_up_no_other_cluster(tmp_path: Path, monkeypatch) -> None:
    """A GKE cluster's token and lookup take a while; an on-prem cluster's client must not wait
    for them (the stories connect every cluster at once, each in its own thread)."""
    import threading

    import deployer.app

    for port, name in enumerate(("slow", "fast"), start=6443):
        (tmp_path / "clusters").mkdir(exist_ok=True)
        (tmp_path / "clusters" / f"{name}.yaml").write_text(yaml.safe_dump(
            {"name": name, "provider": "onprem", "environment": "staging", "registry": "127.0.0.1:5000/x",
             "server": f"https://127.0.0.1:{port}", "ca": {"inline": CA}, "credential": {"type": "token", "env": "T"}}))
    (tmp_path / "charts").symlink_to(REPO / "charts")
    config = load_config(tmp_path)
    release, entered = threading.Event(), threading.Event()
    connected: list[str] = []

    def connect(cluster, _config, **_kwargs):
        if cluster.name == "slow":
            entered.set()
            assert release.wait(10)
        connected.append(cluster.name)
        return object()

    monkeypatch.setattr(deployer.app, "connect", connect)
    with App(config) as app:
        slow = threading.Thread(target=app.admin_client, args=(config.cluster("slow"),))
        slow.start()
        assert entered.wait(10)
        app.admin_client(config.cluster("fast"))  # returns while "slow" is still connecting
        assert connected == ["fast"]
        release.set()
        slow.join(10)
        assert connected == ["fast", "slow"]
        monkeypatch.setattr(deployer.app.App, "close", lambda self: None)  # the stand-in clients own nothing
