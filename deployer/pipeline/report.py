"""The per-cluster report of a deploy or rollback: text for people, JSON for machines, JUnit XML
for Jenkins (one test case per cluster and step, so the build page shows "gke-prod / wait failed").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree import ElementTree as ET

from deployer.errors import ExitCode
from deployer.redact import scrub

StepStatus = Literal["ok", "unchanged", "failed", "skipped"]
ClusterOutcome = Literal["succeeded", "unchanged", "failed", "rolled-back", "skipped"]


@dataclass
class Step:
    name: str
    status: StepStatus
    seconds: float = 0.0
    message: str = ""


@dataclass
class ClusterReport:
    cluster: str
    outcome: ClusterOutcome = "skipped"
    revision: int | None = None
    image: str | None = None
    release: str = ""
    """Which release the cluster is on when the run ends, in words: "new release r4", "back on r3"."""
    steps: list[Step] = field(default_factory=list)
    error: Any = field(default=None, repr=False, compare=False)
    """The error that stopped this cluster, when one did (kept for the exit code, not printed)."""

    def step(self, name: str, status: StepStatus, seconds: float = 0.0, message: str = "") -> Step:
        item = Step(name, status, round(seconds, 3), scrub(message))
        self.steps.append(item)
        return item

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "rolled-back")


@dataclass
class RunReport:
    action: str
    service: str
    environment: str
    clusters: list[ClusterReport]
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    stopped_by: ExitCode | None = None
    """Set when the run stopped before writing anything (a credential, a refused preflight): the
    exit code then names that cause rather than a rollout failure."""

    def exit_code(self, detailed: bool = False) -> ExitCode:
        if self.stopped_by is not None:
            return self.stopped_by
        failed = [c for c in self.clusters if c.failed]
        changed = [c for c in self.clusters if c.outcome == "succeeded"]
        if failed and len(failed) == len(self.clusters):
            return ExitCode.FAILED
        if failed:
            return ExitCode.PARTIAL
        if changed and detailed:
            return ExitCode.CHANGED
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "service": self.service, "environment": self.environment,
            "dryRun": self.dry_run, "exitCode": int(self.exit_code()), "notes": self.notes,
            "clusters": [{"cluster": c.cluster, "outcome": c.outcome, "revision": c.revision, "image": c.image,
                          "release": c.release,
                          "steps": [{"name": s.name, "status": s.status, "seconds": s.seconds, "message": s.message}
                                    for s in c.steps]} for c in self.clusters],
        }

    def to_text(self) -> str:
        lines = []
        width = max((len(c.cluster) for c in self.clusters), default=7)
        for c in self.clusters:
            lines.append(f"{c.cluster.ljust(width)}  {c.outcome:<11}  {c.release}".rstrip())
            for s in c.steps:
                if s.status == "failed":
                    lines.append(f"{' ' * width}  {s.name} failed: {s.message}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_junit(self) -> str:
        suite = ET.Element("testsuite", name=f"deployer {self.action} {self.service} {self.environment}")
        tests = failures = skipped = 0
        for c in self.clusters:
            for s in c.steps:
                tests += 1
                case = ET.SubElement(suite, "testcase", classname=c.cluster, name=f"{c.cluster} / {s.name}",
                                     time=f"{s.seconds:.3f}")
                if s.status == "failed":
                    failures += 1
                    ET.SubElement(case, "failure", message=f"{c.cluster} / {s.name} failed").text = s.message
                elif s.status == "skipped":
                    skipped += 1
                    ET.SubElement(case, "skipped", message=s.message or "skipped")
                elif s.message:
                    ET.SubElement(case, "system-out").text = s.message
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
        suite.set("errors", "0")
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)
