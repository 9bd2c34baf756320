"""Least privilege, decided over data: what each identity should be able to do (from the rendered
chart) against what the API server says it can do (SelfSubjectRulesReview, SelfSubjectAccessReview).

Rules are compared as atoms: one (API group, resource, verb, resource name) each, or one
(URL, verb) for non-resource rules. A wildcard stays a wildcard atom: ``verbs: ["*"]`` granted live
is an excess unless the chart grants ``*`` too, which is the conservative reading ("can it do
*everything* we did not list?" must be answered no).

An identity's baseline (what every authenticated user, or every service account, may do on this
cluster: discovery, self reviews) is measured on the cluster with a made-up identity of the same
shape rather than hard-coded, since it differs between Kubernetes versions and providers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal, NamedTuple

RBAC_GROUP = "rbac.authorization.k8s.io"
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Rule:
        """From a PolicyRule, or a SelfSubjectRulesReview resource or non-resource rule."""
        def strings(key: str) -> tuple[str, ...]:
            return tuple(data.get(key) or ())
        return cls(strings("verbs"), strings("apiGroups"), strings("resources"), strings("resourceNames"),
                   strings("nonResourceURLs"))

    def __str__(self) -> str:
        if self.non_resource_urls:
            return f"nonResourceURLs {list(self.non_resource_urls)} verbs {list(self.verbs)}"
        names = f" resourceNames {list(self.resource_names)}" if self.resource_names else ""
        return (f"apiGroups {list(self.api_groups)} resources {list(self.resources)}{names} "
                f"verbs {list(self.verbs)}")


class Atom(NamedTuple):
    """One permission. For a non-resource rule ``group`` is None and ``resource`` is the URL."""

    group: str | None
    resource: str
    verb: str
    name: str | None = None

    def __str__(self) -> str:
        if self.group is None:
            return f"{self.verb} {self.resource}"
        resource = self.resource if not self.group else f"{self.resource}.{self.group}"
        named = f" named {self.name}" if self.name else ""
        return f"{self.verb} {resource}{named}"


def atoms(rule: Rule) -> set[Atom]:
    if rule.non_resource_urls:
        return {Atom(None, url, verb) for url, verb in product(rule.non_resource_urls, rule.verbs)}
    names: Sequence[str | None] = rule.resource_names or (None,)
    return {Atom(g, r, v, n) for g, r, v, n in product(rule.api_groups, rule.resources, rule.verbs, names)}


def _matches(granted: str, wanted: str) -> bool:
    return granted == "*" or granted == wanted


def _resource_matches(granted: str, wanted: str) -> bool:
    if granted == "*" or granted == wanted:
        return True
    # "deployments/*" grants every subresource of deployments, "*/scale" one subresource of
    # everything (RBAC's ResourceMatches).
    if granted.endswith("/*") and wanted.startswith(granted[:-1]):
        return True
    return granted.startswith("*/") and "/" in wanted and wanted.endswith(granted[1:])


def _url_matches(granted: str, wanted: str) -> bool:
    return granted == "*" or granted == wanted or (granted.endswith("*") and wanted.startswith(granted[:-1]))


def covers(rule: Rule, atom: Atom) -> bool:
    """Whether ``rule`` grants everything ``atom`` stands for (wildcard atoms need wildcards)."""
    if not any(_matches(v, atom.verb) for v in rule.verbs):
        return False
    if atom.group is None:
        return any(_url_matches(u, atom.resource) for u in rule.non_resource_urls)
    if rule.non_resource_urls and not rule.resources:
        return False
    if not any(_matches(g, atom.group) for g in rule.api_groups):
        return False
    if not any(_resource_matches(r, atom.resource) for r in rule.resources):
        return False
    if rule.resource_names:
        return atom.name is not None and atom.name in rule.resource_names
    return True


def covered(atom: Atom, rules: Iterable[Rule]) -> bool:
    return any(covers(rule, atom) for rule in rules)


# --- identities ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """Who is checked: a subject the chart binds, or the cluster's deploy credential itself."""

    label: str
    """For people: "Group payments-oncall", "ServiceAccount jenkins/jenkins-deployer"."""
    user: str
    groups: tuple[str, ...] = (AUTHENTICATED,)

    def matches(self, subject: dict[str, Any]) -> bool:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User":
            return name == self.user
        if kind == "Group":
            return name in self.groups
        if kind == "ServiceAccount":
            return self.user == f"system:serviceaccount:{subject.get('namespace')}:{name}"
        return False

    @property
    def is_service_account(self) -> bool:
        return self.user.startswith("system:serviceaccount:")


def subject_identity(subject: dict[str, Any]) -> Identity:
    """How to impersonate a binding's subject: a Group is checked as a made-up member of it."""
    kind, name = subject["kind"], subject["name"]
    if kind == "ServiceAccount":
        ns = subject["namespace"]
        return Identity(f"ServiceAccount {ns}/{name}", f"system:serviceaccount:{ns}:{name}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{ns}", AUTHENTICATED))
    if kind == "Group":
        return Identity(f"Group {name}", f"deployer-verify:member-of:{name}", (name, AUTHENTICATED))
    return Identity(f"User {name}", name, (AUTHENTICATED,))


def baseline_identity(identity: Identity) -> Identity:
    """A made-up identity of the same shape bound to nothing by the chart: what it may do is what
    the cluster grants everyone of that shape. (A service account's own namespace group is left
    out on purpose, so grants to "every service account in jenkins" still count as excess.)"""
    if identity.is_service_account:
        return Identity("baseline service account", "system:serviceaccount:deployer-verify:baseline",
                        ("system:serviceaccounts", AUTHENTICATED))
    return Identity("baseline user", "deployer-verify:baseline", (AUTHENTICATED,))


def declared_identities(desired: Iterable[dict[str, Any]]) -> list[Identity]:
    """Every subject the rendered RoleBindings and ClusterRoleBindings name, once each."""
    seen: dict[str, Identity] = {}
    for obj in desired:
        if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.get("subjects") or []:
                identity = subject_identity(subject)
                seen.setdefault(identity.label, identity)
    return list(seen.values())


# --- what the chart grants -----------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    rule: Rule
    source: str
    """"ClusterRole deployer:deployer via RoleBinding payments/deployer:deployer"."""


def expected_grants(desired: Sequence[dict[str, Any]], identity: Identity, namespace: str) -> list[Grant]:
    """The rules the rendered chart gives ``identity`` in ``namespace`` (cluster-wide bindings
    included). A binding to a role the chart does not render contributes nothing, so whatever
    it grants live shows up as excess."""
    roles = {(o["kind"], (o.get("metadata") or {}).get("namespace") or "", o["metadata"]["name"]): o
             for o in desired if o.get("kind") in ("ClusterRole", "Role")}
    grants = []
    for obj in desired:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        if kind == "RoleBinding" and meta.get("namespace") != namespace:
            continue
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(identity.matches(s) for s in obj.get("subjects") or []):
            continue
        ref = obj.get("roleRef") or {}
        role = roles.get((ref.get("kind"), namespace if ref.get("kind") == "Role" else "", ref.get("name")))
        if role is None:
            continue
        where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
        source = f"{ref.get('kind')} {ref.get('name')} via {kind} {where}{meta.get('name')}"
        grants += [Grant(Rule.from_api(r), source) for r in role.get("rules") or []]
    return grants


# --- comparing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    identity: str
    namespace: str
    problem: Literal["excess", "missing"]
    permission: str
    rule: str
    """Excess: the live rule that grants it. Missing: the chart's role and binding that should."""

    def __str__(self) -> str:
        if self.problem == "excess":
            return (f"{self.identity} may {self.permission} in namespace {self.namespace}, which the chart "
                    f"does not grant (live rule: {self.rule})")
        return (f"{self.identity} cannot {self.permission} in namespace {self.namespace}, which the chart "
                f"grants ({self.rule})")

    def to_dict(self) -> dict[str, str]:
        return {"identity": self.identity, "namespace": self.namespace, "problem": self.problem,
                "permission": self.permission, "rule": self.rule}


def compare_rules(identity: Identity, namespace: str, expected: Sequence[Grant], actual: Sequence[Rule],
                  baseline: Sequence[Rule]) -> list[Finding]:
    """Findings from a rules review: every live permission beyond the chart and the baseline,
    and every chart permission the identity lacks live."""
    allowed = [g.rule for g in expected] + list(baseline)
    findings: list[Finding] = []
    seen: set[Atom] = set()
    for rule in actual:
        for atom in sorted(atoms(rule), key=str):
            if atom not in seen and not covered(atom, allowed):
                seen.add(atom)
                findings.append(Finding(identity.label, namespace, "excess", str(atom), str(rule)))
    for grant in expected:
        for atom in sorted(atoms(grant.rule), key=str):
            if atom not in seen and not covered(atom, actual):
                seen.add(atom)
                findings.append(Finding(identity.label, namespace, "missing", str(atom), grant.source))
    return findings


class Probe(NamedTuple):
    """One SelfSubjectAccessReview and the answer the chart implies."""

    namespace: str
    group: str
    resource: str
    verb: str
    allowed: bool
    reason: str

    def __str__(self) -> str:
        resource = self.resource if not self.group else f"{self.resource}.{self.group}"
        return f"{self.verb} {resource}"


# Verbs a deployer identity must never hold unless the chart grants them (the examples).
_DENY_VERBS = ("delete", "deletecollection")
_DENY_ALWAYS = ((RBAC_GROUP, "rolebindings", "create"), (RBAC_GROUP, "clusterrolebindings", "create"),
                (RBAC_GROUP, "roles", "escalate"), ("", "secrets", "get"))


def probes(expected_by_namespace: Mapping[str, Sequence[Grant]], outside: str) -> list[Probe]:
    """Spot checks that stand on their own even where a rules review is incomplete (clusters with
    webhook authorizers, such as GKE's IAM): every concrete permission the chart grants must be
    allowed; delete, binding roles and reading secrets must be refused unless granted; and nothing
    granted in a declared namespace may work in ``outside`` unless granted cluster-wide."""
    out: list[Probe] = []
    concrete: set[tuple[str, str, str]] = set()
    for namespace, grants in expected_by_namespace.items():
        rules = [g.rule for g in grants]
        kinds: set[tuple[str, str]] = set()
        for grant in grants:
            for atom in sorted(atoms(grant.rule), key=str):
                if atom.group is None or "*" in (atom.group, atom.resource, atom.verb) or atom.name:
                    continue
                out.append(Probe(namespace, atom.group, atom.resource, atom.verb, True, grant.source))
                concrete.add((atom.group, atom.resource, atom.verb))
                kinds.add((atom.group, atom.resource))
        for group, resource in sorted(kinds):
            for verb in _DENY_VERBS:
                if not covered(Atom(group, resource, verb), rules):
                    out.append(Probe(namespace, group, resource, verb, False, "not granted by the chart"))
        for group, resource, verb in _DENY_ALWAYS:
            if not covered(Atom(group, resource, verb), rules):
                out.append(Probe(namespace, group, resource, verb, False, "not granted by the chart"))
    outside_rules = [g.rule for g in expected_by_namespace.get(outside, ())]
    for group, resource, verb in sorted(concrete):
        if not covered(Atom(group, resource, verb), outside_rules):
            out.append(Probe(outside, group, resource, verb, False,
                             "granted only inside the cluster's declared namespaces"))
    return out


def probe_findings(identity: Identity, results: Iterable[tuple[Probe, bool]]) -> list[Finding]:
    findings = []
    for probe, allowed in results:
        if allowed and not probe.allowed:
            findings.append(Finding(identity.label, probe.namespace, "excess", str(probe),
                                    f"access review allowed it; {probe.reason}"))
        elif probe.allowed and not allowed:
            findings.append(Finding(identity.label, probe.namespace, "missing", str(probe), probe.reason))
    return findings


def outside_namespace(declared: Iterable[str]) -> str:
    """A namespace the cluster file does not declare, to check that access stops at the border."""
    taken = set(declared)
    return next(ns for ns in ("default", "kube-system", "deployer-verify-outside") if ns not in taken)
