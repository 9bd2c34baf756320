"""Run Jenkinsfiles in the Groovy pipeline harness (PipelineHarness.groovy) from pytest.

The unit tests assert on what the harness records; the integration test runs the recorded shell
steps for real. Both import this module, so the shell steps they check are never copied by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HARNESS = HERE / "PipelineHarness.groovy"
FETCH = REPO / "scripts" / "fetch-groovy.sh"

# A JVM that starts quickly: the harness runs for seconds, so the C2 compiler never pays off.
JAVA_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss4m"]

# What Jenkins puts in a build's environment that the pipeline reads; scenarios add to it.
JENKINS_ENV = {
    "BUILD_URL": "https://jenkins.example.internal/job/hello/42/",
    "JOB_NAME": "hello",
    "BUILD_NUMBER": "42",
    "GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567",
    "BRANCH_NAME": "main",
}


def java_missing_reason() -> str | None:
    """Why the harness cannot run here, or None. Only a missing Java is a reason to skip."""
    if shutil.which("java") is None:
        return ("Java is not installed: the Jenkinsfile is executed by Groovy on a JVM "
                "(apt-get install openjdk-17-jre-headless)")
    return None


def groovy_classpath() -> str:
    """The cached Groovy, groovy-json and SnakeYAML jars, fetched from Maven Central on first use."""
    done = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/fetch-groovy.sh failed (exit {done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1] + "/*"


def run_scenarios(scenarios: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Execute every scenario in one JVM; return each one's record, keyed by scenario name."""
    classpath = groovy_classpath()
    with tempfile.TemporaryDirectory(prefix="jenkins-harness-") as tmp:
        given, result = Path(tmp, "scenarios.json"), Path(tmp, "result.json")
        given.write_text(json.dumps(scenarios))
        done = subprocess.run(["java", *JAVA_FLAGS, "-cp", classpath, "groovy.ui.GroovyMain", str(HARNESS),
                               str(given), str(result)], capture_output=True, text=True, check=False, timeout=300)
        if done.returncode != 0 or not result.exists():
            raise RuntimeError(f"the pipeline harness failed (exit {done.returncode}):\n{done.stderr}\n{done.stdout}")
        return json.loads(result.read_text())


def scenario(name: str, *, jenkinsfile: Path | str = REPO / "Jenkinsfile", workspace: Path | str = REPO,
             params: dict[str, str] | None = None, env: dict[str, str] | None = None,
             inputs: list[str] | None = None, sh: list[dict[str, Any]] | None = None,
             credentials: list[str] | None = None, libraries: dict[str, str] | None = None,
             groups: dict[str, list[str]] | None = None, newer_build_approved_first: bool = False) -> dict[str, Any]:
    """One build of a Jenkinsfile: the parameters it is started with, Jenkins' environment, the
    answers to its input steps (``approve``, ``approve by USER``, ``abort``) and the groups of those
    users, the exit codes of chosen shell steps (``{match: regex, exit: N}``), the credential ids
    that exist in Jenkins (None: all of them), and whether a newer build of the job is approved
    while this one waits at its approval."""
    data: dict[str, Any] = {
        "name": name, "jenkinsfile": str(jenkinsfile), "workspace": str(workspace),
        "params": params or {}, "env": {**JENKINS_ENV, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        "inputs": inputs or [], "sh": sh or [], "libraries": {k: str(v) for k, v in (libraries or {}).items()},
    }
    if credentials is not None:
        data["credentials"] = credentials
    if groups:
        data["groups"] = groups
    if newer_build_approved_first:
        data["newerBuildApprovedFirst"] = True
    return data


@dataclass(frozen=True)
class ShellStep:
    """A sh step as the pipeline ran it: the script, and what Jenkins had put in its environment."""

    stage: str
    label: str | None
    script: str
    env: dict[str, str]
    """Variables the pipeline set (parameters, withEnv), with Jenkins' ``PATH+NAME`` keys as written."""
    credentials: list[dict[str, str]]
    """The withCredentials bindings in force: kind (string|file), credentialsId, variable."""

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        """The process environment Jenkins would give the step on an agent whose own is ``base``:
        ``PATH+NAME=dir`` entries go in front of PATH, innermost first."""
        merged = dict(base)
        prefixes = []
        for key, value in self.env.items():
            if key.startswith("PATH+"):
                prefixes.insert(0, value)
            else:
                merged[key] = value
        if prefixes:
            merged["PATH"] = os.pathsep.join([*prefixes, merged.get("PATH", "")])
        return merged


def shell_steps(record: dict[str, Any], stage: str | None = None) -> list[ShellStep]:
    """The sh steps of one recorded build, optionally of one stage, in the order they ran."""
    return [ShellStep(s["stage"], s.get("label"), s["script"], s["env"], s["credentials"])
            for s in record["steps"] if s["step"] == "sh" and (stage is None or s["stage"] == stage)]


def run_shell_step(step: ShellStep, *, cwd: Path, base_env: dict[str, str], secrets: dict[str, str],
                   timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a recorded sh step the way Jenkins' sh step does (``/bin/sh -xe`` on a script file),
    with each bound credential's variable set from ``secrets`` (credential id -> the secret text,
    or for a secret file the path of the file Jenkins would have written)."""
    env = step.environ(base_env)
    for binding in step.credentials:
        env[binding["variable"]] = secrets[binding["credentialsId"]]
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="jenkins-sh-", delete=False) as f:
        f.write(step.script)
        script = f.name
    try:
        return subprocess.run(["/bin/sh", "-xe", script], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    finally:
        os.unlink(script)
