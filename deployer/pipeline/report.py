"""The per-cluster report of a deploy or rollback: text for people, JSON for machines, JUnit XML
for Jenkins (one test case per cluster and step, so the build page shows "gke-prod / wait failed").

The stories record facts (``EndState``: which release each cluster ends on and how); only this
module turns them into words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal
from xml.etree import ElementTree as ET

from deployer.errors import ExitCode
from deployer.redact import scrub
from deployer.rollout.waves import WaveReport

StepStatus = Literal["ok", "unchanged", "failed", "skipped"]
ClusterOutcome = Literal["succeeded", "unchanged", "failed", "rolled-back", "skipped"]


class End(StrEnum):
    """Which release a cluster is on when the run ends, and how it got there."""

    NOT_CONTACTED = "not-contacted"
    """The cluster could not be reached; nothing was read or written."""
    UNCHANGED = "unchanged"
    """The run stopped before writing anything; the cluster stays on ``revision``."""
    DRY_RUN = "dry-run"
    """A dry run: nothing written; the cluster is on ``revision``."""
    CURRENT = "current"
    """The cluster already ran exactly this release (``revision``); nothing was written."""
    NEW = "new"
    """On the new release ``revision``."""
    NEW_FAILED = "new-failed"
    """On the new release ``revision``, which failed and stays (``reason``: why it was not rolled back)."""
    PREVIOUS = "previous"
    """Back on ``rollback_target``'s release, recorded as ``revision`` (after ``failed_revision`` failed)."""
    ROLLBACK_FAILED = "rollback-failed"
    """Rolling back to ``rollback_target`` failed (``reason``)."""
    UNKNOWN = "unknown"
    """The rollback broke off (``reason``): what the cluster runs is unknown."""
    LOST = "lost"
    """The cluster stopped answering (``reason``) while ``failed_revision`` was being deployed, past
    every retry: it runs that release or ``revision``, the last it ran for sure (None: none)."""


@dataclass(frozen=True)
class EndState:
    kind: End
    revision: int | None = None
    """The revision the cluster is on (None: none, or not known)."""
    rollback_target: int | None = None
    failed_revision: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "revision": self.revision, "rollbackTarget": self.rollback_target,
                "failedRevision": self.failed_revision, "reason": self.reason or None}


def _label(revision: int | None) -> str:
    return f"r{revision}" if revision is not None else "no release"


def describe_end(state: EndState | None) -> str:
    """The end state in words, as the text report, the JSON ``release`` field and the page show it."""
    if state is None:
        return ""
    end, revision = state.kind, state.revision
    if end is End.NOT_CONTACTED:
        return "not contacted"
    if end is End.UNCHANGED:
        return f"unchanged, on {_label(revision)}" + (f" ({state.reason})" if state.reason else "")
    if end is End.DRY_RUN:
        return f"on {_label(revision)}; dry run, nothing written"
    if end is End.CURRENT:
        return f"already on {_label(revision)}; nothing to change"
    if end is End.NEW:
        return f"on the new release r{revision}"
    if end is End.NEW_FAILED:
        return f"on the new release r{revision}, which failed" + (f"; {state.reason}" if state.reason else "")
    if end is End.PREVIOUS:
        why = state.reason or (f"r{state.failed_revision} failed" if state.failed_revision is not None else "")
        return f"back on r{state.rollback_target}'s release as r{revision}" + (f" ({why})" if why else "")
    if end is End.ROLLBACK_FAILED:
        return f"rollback to r{state.rollback_target} failed: {state.reason}"
    if end is End.LOST:
        return (f"lost while r{state.failed_revision} was being deployed: it runs r{state.failed_revision} or "
                f"{_label(revision)} (record r{state.failed_revision} left in progress); run `deployer status` "
                f"once the API server answers ({state.reason})")
    return f"rollback failed: {state.reason}; cluster state unknown"


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
    end: EndState | None = None
    """Which release the cluster is on when the run ends (None: the run broke off before knowing)."""
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

    @property
    def release(self) -> str:
        """Which release the cluster is on when the run ends, in words: "on the new release r4"."""
        return describe_end(self.end)


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
    interrupted: str | None = None
    """The signal that stopped the run ("SIGTERM"), when one did: it decides the exit code."""
    interrupt_code: ExitCode | None = None
    waves: list[WaveReport] = field(default_factory=list)
    """Each wave of a deploy in waves (empty for one wave): which ran, which stopped it and why."""

    def exit_code(self, detailed: bool = False) -> ExitCode:
        if self.interrupt_code is not None:
            return self.interrupt_code
        if self.stopped_by is not None:
            return self.stopped_by
        failed = [c for c in self.clusters if c.failed]
        changed = [c for c in self.clusters if c.outcome == "succeeded"]
        # In waves, the clusters of waves never started were not touched: failing every wave that
        # ran is failing everywhere the run went.
        touched = [c for c in self.clusters if c.outcome != "skipped"] if self.waves else self.clusters
        if failed and len(failed) == len(touched):
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
            "interrupted": self.interrupted,
            "clusters": [{"cluster": c.cluster, "outcome": c.outcome, "revision": c.revision, "image": c.image,
                          "release": c.release, "end": c.end.to_dict() if c.end else None,
                          "steps": [{"name": s.name, "status": s.status, "seconds": s.seconds, "message": s.message}
                                    for s in c.steps]} for c in self.clusters],
        } | ({"waves": [w.to_dict() for w in self.waves]} if self.waves else {})

    def to_text(self) -> str:
        lines = []
        width = max((len(c.cluster) for c in self.clusters), default=7)
        for c in self.clusters:
            lines.append(f"{c.cluster.ljust(width)}  {c.outcome:<11}  {c.release}".rstrip())
            for s in c.steps:
                if s.status == "failed":
                    lines.append(f"{' ' * width}  {s.name} failed: {s.message}")
        lines += [f"wave {w.index} ({', '.join(w.clusters)}): {w.state.value}" + (f": {w.reason}" if w.reason else "")
                  for w in self.waves]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_junit(self) -> str:
        suite = ET.Element("testsuite", name=f"deployer {self.action} {self.service} {self.environment}")
        tests = failures = skipped = 0
        if self.interrupted is not None:
            tests, failures = 1, 1
            case = ET.SubElement(suite, "testcase", classname="run", name="run / interrupted", time="0.000")
            ET.SubElement(case, "failure", message=f"interrupted by {self.interrupted}").text = \
                scrub("; ".join(self.notes))
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
