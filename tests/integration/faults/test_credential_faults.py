"""A token that expires mid-run (the API server answers 401) is replaced once, for the credential
kind the deploy cases do not cover: a TokenRequest token is requested anew with the long-lived
token (the token-file and Google-key kinds are in test_api_faults.py)."""

from __future__ import annotations

import uuid

import pytest
import yaml

from deployer.app import connect
from deployer.config.loader import load_config
from deployer.errors import CredentialsError
from deployer.kube import access
from tests.conftest import REPO
from tests.integration.faults.proxy import Fault
from tests.integration.kit import admin_api

pytestmark = pytest.mark.integration

ONPREM = "local-onprem"
WHOAMI = r"/selfsubjectreviews$"
MINT = r"/serviceaccounts/robot/token$"


@pytest.fixture
def robot(platform):
    """A namespace on local-onprem with a ServiceAccount `robot` that jenkins-deployer may mint tokens of."""
    from kubernetes import client

    name = f"faults-tokreq-{uuid.uuid4().hex[:6]}"
    with admin_api(platform.cluster(ONPREM)) as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        core.create_namespaced_service_account(name, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="robot")))
        rbac.create_namespaced_role(name, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "mint"},
            "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": ["robot"],
                       "verbs": ["create"]}]})
        rbac.create_namespaced_role_binding(name, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "mint"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mint"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jenkins-deployer"}]})
    yield name
    with admin_api(platform.cluster(ONPREM)) as api:
        client.CoreV1Api(api).delete_namespace(name)


def _client_through_proxy(tmp_path, platform, proxy, namespace: str):
    document = yaml.safe_load(platform.cluster(ONPREM).cluster_file.read_text())
    document["server"], document["ca"] = proxy.url, {"file": str(proxy.ca_file)}
    document["credential"]["tokenRequest"] = {"serviceAccount": "robot", "namespace": namespace,
                                              "expirationSeconds": 600}
    (tmp_path / "clusters").mkdir()
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters" / f"{ONPREM}.yaml").write_text(yaml.safe_dump(document))
    config = load_config(tmp_path)
    return connect(config.cluster(ONPREM), config)


def test_a_token_request_token_rejected_once_is_requested_again(tmp_path, platform, proxied, robot) -> None:
    proxy = proxied[ONPREM]
    proxy.inject(Fault("status", ("POST",), WHOAMI, times=1, status=401, reason="Unauthorized"))
    kube = _client_through_proxy(tmp_path, platform, proxy, robot)
    try:
        username, _groups = access.whoami(kube)
    finally:
        kube.close()

    assert username == f"system:serviceaccount:{robot}:robot"
    log = proxy.log()
    assert [s.status for s in log if s.path.endswith("/token")] == [201, 201]  # minted, then minted again
    reviews = [s for s in log if s.path.endswith("selfsubjectreviews")]
    assert [s.status for s in reviews] == [401, 201]
    assert reviews[0].credential != reviews[1].credential


def test_a_token_request_token_rejected_every_time_is_a_credentials_error(tmp_path, platform, proxied,
                                                                          robot) -> None:
    proxy = proxied[ONPREM]
    proxy.inject(Fault("status", ("POST",), WHOAMI, times=None, status=401, reason="Unauthorized"))
    kube = _client_through_proxy(tmp_path, platform, proxy, robot)
    try:
        with pytest.raises(CredentialsError, match="401 Unauthorized") as caught:
            access.whoami(kube)
    finally:
        kube.close()

    # Exactly one fresh token was tried: no loop of re-minting against a server that refuses it.
    assert [s.status for s in proxy.log() if s.path.endswith("selfsubjectreviews")] == [401, 401]
    assert [s.status for s in proxy.log() if s.path.endswith("/token")] == [201, 201]
    assert caught.value.exit_code == 4
