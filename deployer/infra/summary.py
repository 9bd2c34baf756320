"""What a Terraform plan would do, and what an apply left behind, as plain data.

Pure functions over Terraform's own machine-readable output: ``terraform show -json PLANFILE``
(the documented JSON plan representation) and ``terraform output -json``. Counting follows
Terraform's "Plan: N to add, N to change, N to destroy" line: a replacement counts once as an add
and once as a destroy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Terraform's JSON plan names an action list per resource; these are the lists it uses.
_ACTIONS = {
    ("create",): "create",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
}
_NO_CHANGE = {("no-op",), ("read",)}


@dataclass(frozen=True)
class ResourceChange:
    address: str
    """The resource's address, e.g. ``module.deployer_account.google_service_account.deployer``."""
    action: str
    """create, update, delete or replace."""


@dataclass(frozen=True)
class PlanSummary:
    add: int = 0
    change: int = 0
    destroy: int = 0
    resources: tuple[ResourceChange, ...] = ()
    outputs_changed: tuple[str, ...] = ()
    """Root outputs the plan would set or change (an output-only plan still needs an apply)."""
    warnings: tuple[str, ...] = ()
    """Terraform's warning headlines, e.g. the module's warning that a private key is in state."""

    @property
    def has_changes(self) -> bool:
        return bool(self.resources or self.outputs_changed)

    def describe(self) -> str:
        if not self.has_changes:
            return "no changes"
        if not self.resources:
            return "only outputs change"
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"

    def to_dict(self) -> dict[str, Any]:
        return {"add": self.add, "change": self.change, "destroy": self.destroy,
                "hasChanges": self.has_changes,
                "resources": [{"address": r.address, "action": r.action} for r in self.resources],
                "outputsChanged": list(self.outputs_changed), "warnings": list(self.warnings)}


def summarize_plan(plan_json: dict[str, Any], warnings: tuple[str, ...] = ()) -> PlanSummary:
    """A summary of ``terraform show -json PLANFILE``."""
    changes: list[ResourceChange] = []
    for rc in plan_json.get("resource_changes") or []:
        actions = tuple((rc.get("change") or {}).get("actions") or ())
        if actions in _NO_CHANGE or not actions:
            continue
        action = _ACTIONS.get(actions, "+".join(actions))
        changes.append(ResourceChange(rc.get("address", "?"), action))
    changes.sort(key=lambda c: c.address)
    outputs = tuple(sorted(name for name, oc in (plan_json.get("output_changes") or {}).items()
                           if tuple((oc or {}).get("actions") or ()) not in _NO_CHANGE))
    return PlanSummary(
        add=sum(c.action in ("create", "replace") for c in changes),
        change=sum(c.action == "update" for c in changes),
        destroy=sum(c.action in ("delete", "replace") for c in changes),
        resources=tuple(changes), outputs_changed=outputs, warnings=warnings)


@dataclass(frozen=True)
class Outputs:
    """The root outputs of terraform/root: what provision hands to the RBAC sync."""

    service_account_email: str
    service_account_name: str
    service_account_unique_id: str
    project_role: str
    key_name: str | None = None
    sensitive: tuple[str, ...] = field(default=())
    """Names of sensitive outputs that exist; their values are never read into deployer."""

    @property
    def member(self) -> str:
        """The IAM member string of the account (``serviceAccount:EMAIL``)."""
        return f"serviceAccount:{self.service_account_email}"

    def to_dict(self) -> dict[str, Any]:
        return {"serviceAccountEmail": self.service_account_email,
                "serviceAccountName": self.service_account_name,
                "serviceAccountUniqueId": self.service_account_unique_id,
                "projectRole": self.project_role, "keyName": self.key_name,
                "sensitiveOutputs": list(self.sensitive)}


class OutputsMissing(ValueError):
    """The state has no (or not all) outputs: nothing was applied yet."""


def parse_outputs(output_json: dict[str, Any]) -> Outputs:
    """``terraform output -json``; sensitive values are dropped here, before anything can print them."""
    plain = {name: entry.get("value") for name, entry in output_json.items()
             if isinstance(entry, dict) and not entry.get("sensitive")}
    sensitive = tuple(sorted(name for name, entry in output_json.items()
                             if isinstance(entry, dict) and entry.get("sensitive") and entry.get("value") is not None))
    required = ("service_account_email", "service_account_name", "service_account_unique_id", "project_role")
    missing = [name for name in required if not plain.get(name)]
    if missing:
        raise OutputsMissing(", ".join(missing))
    return Outputs(service_account_email=str(plain["service_account_email"]),
                   service_account_name=str(plain["service_account_name"]),
                   service_account_unique_id=str(plain["service_account_unique_id"]),
                   project_role=str(plain["project_role"]), key_name=plain.get("key_name"), sensitive=sensitive)


# --- Terraform's human output: diagnostics ------------------------------------------------------

# With -no-color Terraform prints each diagnostic as "Error: summary" (or "Warning: ...") then an
# indented "with ADDRESS," / "on FILE line N" pair, a source excerpt ("  12: resource ...") and the
# detail text. Newer versions frame it with box-drawing characters even then; those are stripped.
_FRAME = re.compile(r"^[\u2577\u2502\u2575] ?")
_SOURCE_EXCERPT = re.compile(r"^\s*\d+: ")
# Under an excerpt Terraform explains the values involved: a ruler, then "│ var.x is true".
_RULER = re.compile(r"^\s*[\u251c\u2514]\u2500+\s*$")
_ANNOTATION = re.compile(r"^\s+\u2502 ")
_HEADLINE = re.compile(r"^(Error|Warning): ")
MAX_DIAGNOSTIC_LINES = 25


def _unframed(text: str) -> list[str]:
    return [_FRAME.sub("", line.rstrip()) for line in text.splitlines()]


def diagnostics(text: str, kind: str = "Error") -> list[list[str]]:
    """Each ``kind`` diagnostic in Terraform's output, as its lines without the source excerpt."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in _unframed(text):
        headline = _HEADLINE.match(line)
        if headline:
            current = [line] if headline.group(1) == kind else None
            if current is not None:
                found.append(current)
            continue
        if current is None or _SOURCE_EXCERPT.match(line) or _RULER.match(line) \
                or line.strip() in ("\u2577", "\u2575"):
            continue
        current.append(line)
    return [_trim(block) for block in found]


def _trim(block: list[str]) -> list[str]:
    out: list[str] = []
    for line in block:
        if not line.strip() and (not out or not out[-1].strip()):
            continue  # collapse runs of blank lines
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out


def error_lines(stderr: str, stdout: str = "") -> list[str]:
    """The lines that explain a failed Terraform command: its Error diagnostics, else its last lines."""
    blocks = diagnostics(stderr) or diagnostics(stdout)
    if blocks:
        lines = [line for block in blocks for line in (*block, "")][:-1]
        if len(lines) > MAX_DIAGNOSTIC_LINES:
            lines = [*lines[:MAX_DIAGNOSTIC_LINES], "(more diagnostics follow in Terraform's output)"]
        return lines
    tail = [line for line in _unframed(stderr or stdout) if line.strip()]
    return tail[-15:] or ["(Terraform printed nothing)"]


def warning_headlines(*texts: str) -> tuple[str, ...]:
    """Distinct warnings as "summary: first paragraph of the detail" (the detail names the thing)."""
    seen: list[str] = []
    for text in texts:
        for block in diagnostics(text, "Warning"):
            summary = block[0].removeprefix("Warning: ")
            paragraph: list[str] = []
            for line in block[1:]:
                if _ANNOTATION.match(line) or line.lstrip().startswith(("with ", "on ")):
                    continue
                if not line.strip():
                    if paragraph:
                        break
                    continue
                paragraph.append(line.strip())
            detail = " ".join(paragraph)
            headline = f"{summary}: {detail}" if detail else summary
            if headline not in seen:
                seen.append(headline)
    return tuple(seen)
