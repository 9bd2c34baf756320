"""Asking the API server what an identity may do: self reviews, as the client's identity (its own
credential, or the admin credential impersonating someone)."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.kube.client import KubeClient
from deployer.plan.access import Rule

# What Kubernetes' default RBAC policy gives every authenticated user (the bootstrap roles
# system:basic-user, system:discovery, system:public-info-viewer): verify's baseline when it
# cannot be measured because the admin credential may not impersonate.
DEFAULT_AUTHENTICATED_RULES = (
    Rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
    Rule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",)),
    Rule(("get",), non_resource_urls=("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                      "/openapi/*", "/readyz", "/version", "/version/")),
)


@dataclass(frozen=True)
class RulesReview:
    namespace: str
    rules: tuple[Rule, ...]
    incomplete: bool
    """True when an authorizer other than RBAC (a webhook, such as GKE's IAM) may allow more."""
    error: str = ""


def whoami(client: KubeClient) -> tuple[str, tuple[str, ...]]:
    """(username, groups) of the client's identity (SelfSubjectReview, GA since Kubernetes 1.28)."""
    review = client.post_json("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                              what="ask who the credential is (SelfSubjectReview)")
    info = ((review or {}).get("status") or {}).get("userInfo") or {}
    return info.get("username", ""), tuple(info.get("groups") or ())


def rules_review(client: KubeClient, namespace: str) -> RulesReview:
    review = client.post_json("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                              {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                               "spec": {"namespace": namespace}},
                              what=f"review the rules of {client.identity} in namespace {namespace}")
    status = (review or {}).get("status") or {}
    rules = [Rule.from_api(r) for r in status.get("resourceRules") or []]
    rules += [Rule.from_api(r) for r in status.get("nonResourceRules") or []]
    return RulesReview(namespace, tuple(rules), bool(status.get("incomplete")), status.get("evaluationError") or "")


def can(client: KubeClient, namespace: str, group: str, resource: str, verb: str) -> bool:
    """One SelfSubjectAccessReview: may the client's identity do ``verb`` on ``resource``?"""
    review = client.post_json("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                              {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                               "spec": {"resourceAttributes": {"namespace": namespace, "group": group,
                                                               "resource": resource, "verb": verb}}},
                              what=f"review whether {client.identity} may {verb} {resource} in {namespace}")
    return bool(((review or {}).get("status") or {}).get("allowed"))
