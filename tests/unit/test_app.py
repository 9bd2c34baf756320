"""The composition root: one client per cluster and credential for a run, built from that
cluster's own file; nothing is sent to any server to build one."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml

from deployer.app import App
from deployer.config.loader import load_config

REPO = Path(__file__).resolve().parents[2]


def two_onprem_clusters(tmp_path: Path):
    """dc1 as in the repository (deploy and admin credentials); dc2 with a deploy credential only."""
    dc1 = yaml.safe_load((REPO / "clusters" / "onprem-dc1.yaml").read_text())
    dc1["ca"] = {"file": str(REPO / "clusters" / "certs" / "dc1-ca.crt")}
    dc2 = dict(dc1, name="onprem-dc2", server="https://k8s-api.dc2.example.internal:6443")
    del dc2["adminCredential"]
    (tmp_path / "clusters").mkdir()
    (tmp_path / "charts").symlink_to(REPO / "charts")
    for doc in (dc1, dc2):
        (tmp_path / "clusters" / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc))
    return load_config(tmp_path)


def test_each_cluster_gets_one_client_per_credential_for_the_whole_run(tmp_path: Path) -> None:
    config = two_onprem_clusters(tmp_path)
    with App(config) as app:
        dc1, dc2 = config.cluster("onprem-dc1"), config.cluster("onprem-dc2")
        deploy, admin = app.client(dc1), app.admin_client(dc1)
        assert app.client(dc1) is deploy and app.admin_client(dc1) is admin
        assert deploy is not admin
        assert "DC1_DEPLOYER_TOKEN" in deploy.identity and "DC1_ADMIN_TOKEN" in admin.identity
        assert admin.identity.startswith("the cluster's admin credential")
        other = app.client(dc2)
        assert other is not deploy and other.cluster == "onprem-dc2"
        assert other.endpoint.server == "https://k8s-api.dc2.example.internal:6443"


def test_a_cluster_without_an_admin_credential_shares_its_deploy_client(tmp_path: Path) -> None:
    config = two_onprem_clusters(tmp_path)
    with App(config) as app:
        dc2 = config.cluster("onprem-dc2")
        assert app.admin_client(dc2) is app.client(dc2)
        assert app.client(dc2).identity.startswith("the cluster's credential")


def test_clusters_asked_for_at_once_are_still_built_once() -> None:
    config = load_config(REPO)
    dc1 = config.cluster("onprem-dc1")
    got = []
    with App(config) as app:
        threads = [threading.Thread(target=lambda: got.append(app.client(dc1))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(got) == 8 and all(client is got[0] for client in got)


def test_closing_ends_the_run_and_a_later_run_builds_afresh() -> None:
    config = load_config(REPO)
    dc1 = config.cluster("onprem-dc1")
    app = App(config)
    first = app.client(dc1)
    app.close()
    assert app.client(dc1) is not first
    app.close()


def test_the_app_passes_progress_and_clocks_to_the_stories() -> None:
    said = []
    app = App(load_config(REPO), progress=lambda cluster, message: said.append((cluster, message)),
              clock=lambda: 42.0, poll_interval=0.01)
    app.progress("onprem-dc1", "applying")
    assert said == [("onprem-dc1", "applying")] and app.clock() == 42.0 and app.poll_interval == 0.01
    App(load_config(REPO)).progress("", "nobody listens")  # the default is quiet


def test_an_app_finishes_its_run_publishers_but_never_a_shared_one(tmp_path: Path) -> None:
    from deployer.app import Publishers

    config = two_onprem_clusters(tmp_path)
    finished: list[str] = []

    class Counted(Publishers):
        def finish(self) -> None:
            finished.append("per run" if self.per_run else "shared")

    shared = Counted(config, lambda message: None, per_run=False)
    for _ in range(2):
        with App(config, publishers=shared) as app:
            assert app.events is shared.events
    with App(config, publishers=Counted(config, lambda message: None)):
        pass
    assert finished == ["per run"]
