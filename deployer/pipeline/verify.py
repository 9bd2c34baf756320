"""The verify story: does every identity the chart grants access to have exactly that access?

    render the chart per cluster -> per cluster, in parallel:
      the cluster's own deploy credential: who is it (SelfSubjectReview); its rules in each declared
        namespace and one undeclared one (SelfSubjectRulesReview); spot checks (SelfSubjectAccessReview)
      every subject the chart binds: the same rules reviews, as that subject, through the admin
        credential's impersonation
      -> compare with what the rendered chart grants (deployer.plan.access, pure)
    -> findings naming identity, namespace, permission and the rule that grants it (or should)

The deploy credential is checked with its real token because that is the identity Jenkins uses;
other subjects (groups, people, robot accounts) have no credential deployer holds, so they are
impersonated, which checks the same RBAC the API server applies to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deployer.app import App
from deployer.config.models import Cluster
from deployer.errors import ExitCode, ForbiddenError
from deployer.kube.access import DEFAULT_AUTHENTICATED_RULES, RulesReview, can, rules_review, whoami
from deployer.kube.client import KubeClient
from deployer.pipeline.cluster_sync import render_desired
from deployer.pipeline.fanout import ClusterRun, Outcome, exit_code, fan_out, outcome_of
from deployer.plan.access import (
    Finding,
    Identity,
    Rule,
    baseline_identity,
    compare_rules,
    declared_identities,
    expected_grants,
    outside_namespace,
    probe_findings,
    probes,
)


@dataclass(frozen=True)
class IdentityCheck:
    identity: str
    how: str
    """"own credential" or "impersonated by the admin credential"."""
    findings: tuple[Finding, ...] = ()
    reviews: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "how": self.how, "ok": not self.findings, "reviews": self.reviews,
                "note": self.note or None, "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class ClusterVerify:
    cluster: str
    namespaces: tuple[str, ...]
    checks: tuple[IdentityCheck, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def findings(self) -> list[Finding]:
        return [f for check in self.checks for f in check.findings]


@dataclass(frozen=True)
class VerifyReport:
    runs: list[ClusterRun[ClusterVerify]]

    @property
    def findings(self) -> list[Finding]:
        return [f for run in self.runs if run.result for f in run.result.findings]

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.runs, lambda _result: False)

    def exit_code(self, detailed: bool = False) -> ExitCode:
        # Wrong access is the more urgent news: it wins over a cluster that could not be checked,
        # whose error is still listed.
        if self.findings:
            return ExitCode.VERIFY_FAILED
        return exit_code(self.outcome, detailed)

    def to_dict(self) -> dict[str, Any]:
        clusters = []
        for run in self.runs:
            item: dict[str, Any] = {"cluster": run.cluster, "seconds": round(run.seconds, 3)}
            if run.result is not None:
                item |= {"ok": not run.result.findings, "namespaces": list(run.result.namespaces),
                         "identities": [c.to_dict() for c in run.result.checks], "notes": list(run.result.notes)}
            if run.error is not None:
                item["error"] = run.error.to_dict()
            clusters.append(item)
        code = self.exit_code()
        return {"action": "verify", "ok": code is ExitCode.OK, "exitCode": int(code), "clusters": clusters}


class _Baselines:
    """What an identity of each shape gets from the cluster anyway, measured once per shape."""

    def __init__(self, admin: KubeClient, namespace: str) -> None:
        self._admin, self._namespace = admin, namespace
        self._cache: dict[Identity, tuple[Rule, ...]] = {}
        self.note = ""

    def of(self, identity: Identity) -> tuple[Rule, ...]:
        shape = baseline_identity(identity)
        if shape not in self._cache:
            try:
                review = rules_review(self._admin.impersonating(shape.user, shape.groups), self._namespace)
                self._cache[shape] = review.rules
            except ForbiddenError:
                self.note = ("the admin credential may not impersonate, so the baseline is Kubernetes' default "
                             "policy for authenticated users")
                self._cache[shape] = DEFAULT_AUTHENTICATED_RULES
        return self._cache[shape]


def _check(client: KubeClient, identity: Identity, how: str, desired: list[dict[str, Any]], namespaces: list[str],
           outside: str, baseline: tuple[Rule, ...], spot_checks: bool) -> IdentityCheck:
    expected = {ns: expected_grants(desired, identity, ns) for ns in namespaces + [outside]}
    findings: list[Finding] = []
    reviews: list[RulesReview] = []
    for ns, grants in expected.items():
        review = rules_review(client, ns)
        reviews.append(review)
        findings += compare_rules(identity, ns, grants, review.rules, baseline)
    incomplete = any(r.incomplete for r in reviews)
    count = len(reviews)
    if spot_checks or incomplete:
        planned = probes(expected, outside)
        results = [(p, can(client, p.namespace, p.group, p.resource, p.verb)) for p in planned]
        count += len(planned)
        seen = {(f.namespace, f.problem, f.permission) for f in findings}
        # A rules review that is incomplete (another authorizer may allow more) cannot prove a
        # permission missing; the access review, which asks every authorizer, decides instead.
        if incomplete:
            findings = [f for f in findings if f.problem == "excess"]
        findings += [f for f in probe_findings(identity, results) if (f.namespace, f.problem, f.permission) not in seen]
    note = "rules review incomplete (a non-RBAC authorizer is active); decided by access reviews" if incomplete else ""
    return IdentityCheck(identity.label, how, tuple(findings), count, note)


def verify_cluster(cluster: Cluster, admin: KubeClient, deploy: KubeClient,
                   desired: list[dict[str, Any]]) -> ClusterVerify:
    namespaces = cluster.namespace_names
    outside = outside_namespace(namespaces)
    baselines = _Baselines(admin, outside)
    checks: list[IdentityCheck] = []
    notes: list[str] = []

    user, groups = whoami(deploy)
    own = Identity(f"the cluster's credential ({user})", user, groups)
    checks.append(_check(deploy, own, "own credential", desired, namespaces, outside, baselines.of(own),
                         spot_checks=True))
    for identity in declared_identities(desired):
        if identity.user == user:
            continue  # checked above, with its real credential
        try:
            client = admin.impersonating(identity.user, identity.groups)
            checks.append(_check(client, identity, "impersonated by the admin credential", desired, namespaces,
                                 outside, baselines.of(identity), spot_checks=False))
        except ForbiddenError:
            notes.append(f"{identity.label} not checked: the admin credential may not impersonate it")
    if baselines.note:
        notes.append(baselines.note)
    return ClusterVerify(cluster.name, tuple(namespaces + [outside]), tuple(checks), tuple(notes))


def verify(app: App, names: Sequence[str]) -> VerifyReport:
    """Verify ``names`` in parallel, each with its admin and its deploy credential."""
    desired = render_desired(app.config, names)

    def work(name: str) -> ClusterVerify:
        cluster = app.config.cluster(name)
        return verify_cluster(cluster, app.admin_client(cluster), app.client(cluster), desired[name])

    runs: list[ClusterRun[ClusterVerify]] = fan_out(names, work)
    return VerifyReport(runs)
