"""The one choke point for running outside programs (buildah, docker, skopeo, git).

Every call has a timeout, runs without a shell, and turns failure into a ToolError that shows
the tool's own last error lines, scrubbed of secrets. Terraform runs through python-terraform in
deployer/infra, which has its own wrapper for the same reasons.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from deployer.errors import ToolError
from deployer.redact import scrub

TAIL_LINES = 15


def require(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolError(f"{program} is not installed (not found on PATH)", hint=hint)
    return path


def run(cmd: Sequence[str], *, what: str, cwd: Path | None = None, timeout: float = 600,
        env: dict[str, str] | None = None, input_text: str | None = None,
        check: bool = True, hint: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; ``what`` names the step for the error message ("push hello to 127.0.0.1:5000"),
    ``hint`` what to do when it fails."""
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, input=input_text)
    except FileNotFoundError:
        raise ToolError(f"{what}: {cmd[0]} is not installed", hint=hint) from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{what}: {Path(cmd[0]).name} did not finish within {timeout:.0f}s", hint=hint) from None
    if check and proc.returncode != 0:
        raise ToolError(f"{what}: {Path(cmd[0]).name} exited with {proc.returncode}:\n"
                        + indent_tail(proc.stderr or proc.stdout), hint=hint)
    return proc


def indent_tail(text: str, lines: int = TAIL_LINES) -> str:
    tail = [ln for ln in scrub(text).strip().splitlines() if ln.strip()][-lines:]
    return "\n".join("    " + ln for ln in tail) or "    (no output)"


def checkout_script(name: str, override_env: str, what: str) -> Path:
    """``scripts/NAME`` of the checkout deployer runs from, or the path in ``$override_env``."""
    explicit = os.environ.get(override_env)
    script = Path(explicit) if explicit else Path(__file__).resolve().parents[1] / "scripts" / name
    if not script.is_file():
        raise ToolError(f"the {what} build script is not at {script}",
                        hint=f"Run deployer from its git checkout, or set {override_env} to the script's path.")
    return script
