"""Helm hooks, mapped onto what a deployer release does.

deployer applies a release as one set of objects; it runs no Helm lifecycle. So:

- ``pre-install`` / ``pre-upgrade`` hooks (migrations, schema Jobs) run before the rest of every
  deploy: they are annotated ``deployer.io/phase: pre-deploy`` (the deploy runs such Jobs to
  completion first) and lose their ``helm.sh/hook*`` annotations, which nothing here acts on;
- ``test`` hooks (`helm test`'s pods) are not part of a release: dropped, and the report says so;
- every other hook (post-*, pre-/post-delete, pre-/post-rollback, Helm 2's crd-install) has no
  moment in a deployer release, and is refused naming the chart file and the hook rather than
  silently dropped or applied at the wrong time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HOOK = "helm.sh/hook"
PHASE = "deployer.io/phase"
PRE_DEPLOY = "pre-deploy"
_BEFORE = frozenset({"pre-install", "pre-upgrade"})
_TESTS = frozenset({"test", "test-success", "test-failure"})


@dataclass(frozen=True)
class Hooked:
    """What becomes of one rendered object: kept (maybe annotated), dropped with a note, or refused."""

    obj: dict[str, Any] | None
    note: str = ""
    refusal: str = ""


def map_hook(obj: dict[str, Any], where: str) -> Hooked:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else None
    annotations = (meta or {}).get("annotations") or {}
    if not isinstance(annotations, dict) or HOOK not in annotations:
        return Hooked(obj)
    hooks = frozenset(h.strip() for h in str(annotations[HOOK]).split(",") if h.strip())
    name = f"{obj.get('kind')} {(meta or {}).get('name')}"
    if hooks and hooks <= _TESTS:
        return Hooked(None, note=f"{where}: {name} is a Helm test hook ({annotations[HOOK]}); deployer does not "
                                 "run `helm test` hooks, so it was left out of the release")
    if hooks and hooks <= _BEFORE:
        kept = {k: v for k, v in annotations.items() if not k.startswith(HOOK)}
        return Hooked({**obj, "metadata": {**(meta or {}), "annotations": {**kept, PHASE: PRE_DEPLOY}}})
    unsupported = ", ".join(sorted(hooks - _BEFORE)) or "(empty)"
    return Hooked(None, refusal=f"{name} is a Helm hook ({HOOK}: {annotations[HOOK]}); deployer runs only "
                                f"pre-install/pre-upgrade hooks (before the rest of each deploy) and drops test "
                                f"hooks, so {unsupported} has no moment here: make it a pre-install/pre-upgrade "
                                "hook, a plain object, or remove it")
