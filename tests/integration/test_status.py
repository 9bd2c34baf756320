"""`deployer status` on both local clusters: it reads the live objects and checks them against the
newest release record of each environment; an image changed by hand (as `kubectl set image` does,
through the admin's client) is drift, named by the release that ran it when one did; the page's
overview shows the same."""

from __future__ import annotations

import pytest

from deployer.errors import ExitCode
from tests.integration.test_promote import (
    PRODUCTION_NS,
    STAGING_NS,
    deployer,
    folder,  # noqa: F401  (the fixture)
    live_image,
    service,
    unique,
    write,
)

pytestmark = pytest.mark.integration

PLACES = [("local-gke", "production"), ("local-gke", "staging"), ("local-onprem", "staging")]


def set_image_by_hand(platform, admin_client, cluster: str, name: str, namespace: str, image: str) -> None:
    from kubernetes import client

    body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
    client.AppsV1Api(admin_client(platform.cluster(cluster))).patch_namespaced_deployment(name, namespace, body)


def drift(result) -> dict[tuple[str, str], list[str]]:
    """(cluster, environment) -> the messages of its drift findings."""
    return {(cluster, env): [f["message"] for f in state["findings"] if f["drift"]]
            for cluster, envs in result.json().items() for env, state in envs.items()}


def test_status_is_clean_then_reports_an_image_changed_by_hand(folder, platform, admin_client) -> None:  # noqa: F811
    name = unique("stat")
    write(folder, service(name, ["local-onprem", "local-gke"], ["local-gke"]))
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", unique("one")).exit_code == 0
    assert deployer(folder, "promote", name, "--from", "staging", "--to", "production").exit_code == 0
    clean = deployer(folder, "-o", "json", "status", name)
    assert clean.exit_code == ExitCode.OK, clean.stdout + clean.stderr
    assert drift(clean) == {place: [] for place in PLACES}
    assert clean.json()["local-gke"]["production"]["namespace"] == PRODUCTION_NS
    assert clean.json()["local-gke"]["production"]["current"]["promoted_from"]["environment"] == "staging"

    # Staging moves on to r2; then someone points local-gke's staging Deployment at production's image.
    two = unique("two")
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", two).exit_code == 0
    production_image = live_image(platform, "local-gke", name, PRODUCTION_NS)
    set_image_by_hand(platform, admin_client, "local-gke", name, STAGING_NS, production_image)
    found = deployer(folder, "-o", "json", "status", name)
    assert found.exit_code == ExitCode.DRIFT, found.stdout + found.stderr
    short = production_image.split("@")[1][:19]
    assert drift(found) == {("local-gke", "production"): [], ("local-onprem", "staging"): [],
                            ("local-gke", "staging"): [f"local-gke runs {short}... in Deployment {STAGING_NS}/{name}, "
                                                       f"which is production r1 of {name}, not staging r2"]}
    assert found.json()["local-gke"]["staging"]["drift"] is True

    set_image_by_hand(platform, admin_client, "local-gke", name, STAGING_NS, "nginx:by-hand")
    text = deployer(folder, "status", name)
    assert text.exit_code == ExitCode.DRIFT
    recorded = deployer(folder, "-o", "json", "status", name).json()["local-gke"]["staging"]["latest"]["digest"]
    assert (f"local-gke staging: drift: Deployment {STAGING_NS}/{name} runs image nginx:by-hand in container web, "
            f"set outside deployer, not the recorded {recorded[:19]}... of staging r2") in text.stdout

    # The page's overview reads the same.
    from deployer.app import App
    from deployer.config.loader import load_config
    from deployer.pipeline.status import status
    from deployer.web.views.overview import service_card

    config = load_config(folder)
    with App(config) as app:
        state = service_card(config, name, status(app, name), [])
    shown = {(c.cluster, env.name): [f.message for f in c.findings if f.drift]
             for env in state.environments for c in env.clusters}
    assert shown == drift(deployer(folder, "-o", "json", "status", name))
    assert shown[("local-gke", "staging")] and not shown[("local-onprem", "staging")]
