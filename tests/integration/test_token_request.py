"""On-prem credential exchange: the long-lived token Jenkins holds asks the TokenRequest API for a
short-lived ServiceAccount token, and deployer authenticates with that."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployer.app import connect
from deployer.config.loader import load_config
from deployer.errors import CredentialsError
from deployer.kube import access
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def onprem(platform):
    return platform.cluster("local-onprem")


@pytest.fixture
def ns(onprem, admin_client, request):
    """A fresh namespace on local-onprem with a ServiceAccount `robot`."""
    from kubernetes import client

    core = client.CoreV1Api(admin_client(onprem))
    name = f"tokreq-{abs(hash(request.node.name)) % 10**6}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_service_account(name, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="robot")))
    yield name
    core.delete_namespace(name)


def _config(tmp_path: Path, onprem, ns: str):
    doc = yaml.safe_load(onprem.cluster_file.read_text())
    doc["credential"]["tokenRequest"] = {"serviceAccount": "robot", "namespace": ns, "expirationSeconds": 600}
    (tmp_path / "clusters").mkdir()
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters" / "local-onprem.yaml").write_text(yaml.safe_dump(doc))
    return load_config(tmp_path)


def test_long_lived_token_is_exchanged_for_a_service_account_token(tmp_path, onprem, ns, admin_client) -> None:
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(admin_client(onprem))
    rbac.create_namespaced_role(ns, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                     "metadata": {"name": "mint-robot-tokens"},
                                     "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                                                "resourceNames": ["robot"], "verbs": ["create"]}]})
    rbac.create_namespaced_role_binding(ns, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "mint"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mint-robot-tokens"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jenkins-deployer"}]})
    config = _config(tmp_path, onprem, ns)
    kube = connect(config.cluster("local-onprem"), config)
    username, _groups = access.whoami(kube)
    assert username == f"system:serviceaccount:{ns}:robot"
    assert "short-lived token of ServiceAccount" in kube.identity


def test_without_permission_to_mint_it_is_a_credentials_error(tmp_path, onprem, ns) -> None:
    config = _config(tmp_path, onprem, ns)
    with pytest.raises(CredentialsError, match=f"could not get a token for ServiceAccount {ns}/robot"):
        access.whoami(connect(config.cluster("local-onprem"), config))
