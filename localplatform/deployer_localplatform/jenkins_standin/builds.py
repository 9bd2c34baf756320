"""Jenkins' queue and builds, as the stand-in plays them: a queue item waits out its quiet period,
waits for a free executor, then leaves the queue as a build; the build executes the job's REAL
Jenkinsfile through the pipeline harness (tests/jenkins: PipelineHarness.groovy, which plays the
declarative semantics and records every step) and then runs the recorded steps for real:

- ``sh``: ``/bin/sh -xe`` on a script file in the job's workspace, as Jenkins' durable-task does,
  its output appended to the console as it comes; the environment is the agent's plus what the
  pipeline set (parameters, ``withEnv``, ``PATH+NAME``);
- ``withCredentials`` bindings in force at a step, the way the credentials-binding plugin binds
  them: ``string`` -> the variable holds the secret text; ``file`` -> the variable holds the path
  of a file written (0600) for the step in the build's temporary folder and deleted after it; every
  bound value is masked as ``****`` in the console;
- ``archiveArtifacts``: the matching workspace files copied into the build's archive, served
  under ``artifact/``; ``echo``: a console line; ``junit``: recorded only.

Stop (``Run.doStop``): the build is interrupted; a running ``sh`` step's processes get SIGTERM
(Jenkins' ProcessTree kills every process of the step), and SIGKILL once ``softKillWaitSeconds``
have passed (Jenkins' ``hudson.util.ProcessTree.softKillWaitSeconds``, 5 by default). The stage's
``post { always }`` steps still run (here: its archiveArtifacts), later stages do not, and the
result is ABORTED. A failing ``sh`` step fails the build the same way (result FAILURE).

Where it knowingly differs from Jenkins: the harness decides the path through the pipeline before
any step runs (assuming every ``sh`` succeeds), so a failure or an abort is applied by skipping
what follows, which is what declarative pipelines do for the stages this pipeline has; there is
one agent (the stand-in's machine) and no SCM checkout (the job's workspace is given); an
``input`` step is answered from the job's configuration (``inputs``), unless the job says
``waitForInput``: then the build pauses at it as Jenkins does (pipeline-input-step-plugin's
InputStepExecution): the console says ``Input requested``, the input is pending
(``wfapi/pendingInputActions``) until a POST to ``input/<id>/proceedEmpty`` (``Approved by USER``,
the build goes on) or ``input/<id>/abort`` (``Rejected by USER``, the build ends ABORTED); a stop
while it waits aborts it too. Its id is InputStep's default: the MD5 of the message, capitalised.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[3]
MASK = "****"


def load_harness(path: Path = REPO / "tests" / "jenkins" / "harness.py") -> ModuleType:
    spec = importlib.util.spec_from_file_location("pipeline_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class Job:
    name: str
    """Full name, folders separated by ``/`` (``deploy/hello``)."""
    jenkinsfile: str
    workspace: str
    env: dict[str, str] = field(default_factory=dict)
    """What Jenkins puts in the build's environment besides BUILD_URL, JOB_NAME and BUILD_NUMBER."""
    agent_env: dict[str, str] = field(default_factory=dict)
    """The agent's own environment, which every sh step starts from."""
    libraries: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    """sh scripts the stand-in records but does not run (say why in the job's configuration)."""
    next_number: int = 1
    wait_for_input: bool = False
    """Pause at each input step until someone proceeds or aborts it over HTTP (else ``inputs``)."""


@dataclass
class PendingInput:
    """An input step a build waits at (InputStepExecution while it is pending)."""
    id: str
    message: str
    ok: str
    answered: threading.Event = field(default_factory=threading.Event)
    answer: str | None = None   # proceed | abort
    by: str | None = None


def input_id(message: str) -> str:
    """InputStep.getId's default: capitalize(Util.getDigestOf(message)), the message's MD5 in hex."""
    digest = hashlib.md5(message.encode()).hexdigest()  # Jenkins' id, not a security use
    return digest[0].upper() + digest[1:]


@dataclass
class Credential:
    kind: str  # string | file
    secret: str
    """The secret text, or a secret file's content."""
    file_name: str = "secret"


class Console:
    """A build's log: bytes appended as they come, read from any offset (progressiveText)."""

    def __init__(self, masked: list[str]) -> None:
        self._data = bytearray()
        self._lock = threading.Lock()
        self._masked = sorted((m for m in masked if m), key=len, reverse=True)

    def write(self, text: str) -> None:
        for secret in self._masked:
            text = text.replace(secret, MASK)
        with self._lock:
            self._data += text.encode()

    def read(self, start: int) -> tuple[bytes, int]:
        with self._lock:
            return bytes(self._data[start:]), len(self._data)


class Build:
    def __init__(self, job: Job, number: int, url: str, params: dict[str, str], queue_id: int, user: str,
                 credentials: dict[str, Credential], soft_kill_wait: float, state_dir: Path) -> None:
        self.job, self.number, self.url, self.params, self.queue_id = job, number, url, params, queue_id
        self.user = user
        self.credentials = credentials
        self.soft_kill_wait = soft_kill_wait
        self.dir = state_dir / "jobs" / job.name / "builds" / str(number)
        (self.dir / "archive").mkdir(parents=True, exist_ok=True)
        self.console = Console([c.secret for c in credentials.values() if c.kind == "string"])
        self.started_ms = int(time.time() * 1000)
        self.duration_ms: int | None = None
        self.result: str | None = None
        self.description: str | None = None
        self.artifacts: list[str] = []
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._step_output_closed = threading.Event()
        self._harness: ModuleType | None = None
        self._lock = threading.Lock()
        self.pending: PendingInput | None = None
        self.thread = threading.Thread(target=self._run, name=f"build {job.name}#{number}", daemon=True)

    @property
    def building(self) -> bool:
        return self.result is None

    def stop(self, by: str) -> None:
        """Run.doStop: interrupt the build; a running sh step's processes get SIGTERM, then SIGKILL."""
        if not self.building or self._stop.is_set():
            return
        self._stop.set()
        self.console.write(f"Aborted by {by}\n")
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            self.console.write("Sending interrupt signal to process\n")
            _signal_group(process, signal.SIGTERM)
            threading.Thread(target=self._kill_after_grace, args=(process,), daemon=True).start()
        self.answer_input(None, "abort", by)

    def answer_input(self, wanted_id: str | None, answer: str, by: str) -> bool:
        """Proceed or abort the pending input (``wanted_id`` None: whichever is pending). False: none
        is pending under that id (Jenkins answers 404)."""
        with self._lock:
            pending = self.pending
            if pending is None or (wanted_id is not None and pending.id != wanted_id) or pending.answered.is_set():
                return False
            pending.answer, pending.by = answer, by
            pending.answered.set()
            return True

    def _kill_after_grace(self, process: subprocess.Popen[bytes]) -> None:
        # The step is over when every process holding its output has ended (the shell dies at once on
        # SIGTERM; deployer, its child, settles the clusters first), not when the shell has.
        if not self._step_output_closed.wait(self.soft_kill_wait):
            self.console.write(f"After {self.soft_kill_wait:g} s the process is still running: killing it\n")
            _signal_group(process, signal.SIGKILL)

    def to_json(self) -> dict[str, Any]:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "actions": [{"_class": "hudson.model.ParametersAction",
                         "parameters": [{"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                                        for k, v in self.params.items()]},
                        {"_class": "hudson.model.CauseAction",
                         "causes": [{"_class": "hudson.model.Cause$UserIdCause",
                                     "shortDescription": f"Started by user {self.user}", "userId": self.user}]}],
            "artifacts": [{"displayPath": a.rsplit("/", 1)[-1], "fileName": a.rsplit("/", 1)[-1], "relativePath": a}
                          for a in self.artifacts],
            "building": self.building, "description": self.description, "displayName": f"#{self.number}",
            "duration": self.duration_ms or 0, "estimatedDuration": -1, "executor": {} if self.building else None,
            "fullDisplayName": f"{self.job.name.replace('/', ' » ')} #{self.number}", "id": str(self.number),
            "inProgress": self.building, "keepLog": False, "number": self.number, "queueId": self.queue_id,
            "result": self.result, "timestamp": self.started_ms, "url": self.url,
        }

    # --- executing the pipeline ------------------------------------------------------------------

    def _run(self) -> None:
        result = "FAILURE"
        try:
            result = self._execute()
        except Exception as exc:  # noqa: BLE001 - a stand-in bug must end the build, not leave it building
            self.console.write(f"stand-in error: {type(exc).__name__}: {exc}\n")
        finally:
            self.console.write(f"Finished: {result}\n")
            self.duration_ms = int(time.time() * 1000) - self.started_ms
            self.result = result

    def _execute(self) -> str:
        self.console.write(f"Started by user {self.user}\n")
        harness = self._harness = load_harness()
        env = {**self.job.env, "BUILD_URL": self.url, "JOB_NAME": self.job.name, "BUILD_NUMBER": str(self.number),
               "WORKSPACE": self.job.workspace}
        name = f"{self.job.name}#{self.number}"
        record = harness.run_scenarios([harness.scenario(
            name, jenkinsfile=self.job.jenkinsfile, workspace=self.job.workspace, params=self.params, env=env,
            inputs=["approve"] if self.job.wait_for_input else list(self.job.inputs),
            libraries=self.job.libraries)])[name]
        self.description = record.get("description")
        if record.get("violations"):
            for violation in record["violations"]:
                self.console.write(f"ERROR: {violation['message']}\n")
            return "FAILURE"
        stage, failed_stage, result = None, None, "SUCCESS"
        agent_env = {**self.job.agent_env, **{k: v for k, v in env.items() if k != "WORKSPACE"},
                     "WORKSPACE": self.job.workspace}
        for step in record["steps"]:
            if step["stage"] != stage:
                if failed_stage is not None:
                    break   # later stages are skipped after a failure or an abort
                stage = step["stage"]
                self.console.write(f"[Pipeline] {{ ({stage})\n")
            if self._stop.is_set() and failed_stage is None:
                failed_stage, result = stage, "ABORTED"
            kind = step["step"]
            if failed_stage is not None and kind not in ("archiveArtifacts", "junit"):
                continue    # only the stage's post { always } steps still run
            if kind == "sh":
                exit_code = self._sh(step, agent_env)
                if exit_code != 0:
                    failed_stage = stage
                    result = "ABORTED" if self._stop.is_set() else "FAILURE"
                    self.console.write(f"ERROR: script returned exit code {exit_code}\n")
            elif kind == "echo":
                self.console.write(f"[Pipeline] echo\n{step['message']}\n")
            elif kind == "input" and self.job.wait_for_input:
                if not self._wait_for_input(step):
                    failed_stage, result = stage, "ABORTED"
            elif kind == "archiveArtifacts":
                self._archive(str(step.get("artifacts") or ""))
            elif kind == "error":
                self.console.write(f"[Pipeline] error\nERROR: {step['message']}\n")
        if failed_stage is None and record["result"] != "SUCCESS":
            self.console.write(f"ERROR: {record.get('error')}\n")
            return str(record["result"])
        return result

    def _wait_for_input(self, step: dict[str, Any]) -> bool:
        """Pause until the input is answered; True: proceed. The wait is the build's own (a thread
        of the stand-in, as Jenkins' CPS thread waits), not a wait in a test."""
        message = str(step.get("message") or "Proceed?")
        pending = PendingInput(input_id(message), message, str(step.get("ok") or "Proceed"))
        with self._lock:
            self.pending = pending
        self.console.write(f"[Pipeline] input\n{message}\n{pending.ok} or Abort\nInput requested\n"
                           f"Approve or abort at {self.url}input/\n")
        if self._stop.is_set():
            self.answer_input(pending.id, "abort", "the stop")
        pending.answered.wait()
        with self._lock:
            self.pending = None
        if pending.answer == "proceed":
            self.console.write(f"Approved by {pending.by}\n")
            return True
        self.console.write(f"Rejected by {pending.by}\n")
        return False

    def pending_inputs_json(self, base_path: str) -> list[dict[str, Any]]:
        """wfapi/pendingInputActions (pipeline-stage-view-plugin's PendingInputActionsExt): URLs are
        relative to Jenkins' root, as the plugin writes them."""
        with self._lock:
            pending = self.pending
        if pending is None or pending.answered.is_set():
            return []
        return [{"id": pending.id, "proceedText": pending.ok, "message": pending.message, "inputs": [],
                 "proceedUrl": f"{base_path}wfapi/inputSubmit?inputId={pending.id}",
                 "abortUrl": f"{base_path}input/{pending.id}/abort",
                 "redirectApprovalUrl": f"{base_path}input/"}]

    def _sh(self, step: dict[str, Any], agent_env: dict[str, str]) -> int:
        self.console.write(f"[Pipeline] sh{' (' + step['label'] + ')' if step.get('label') else ''}\n")
        if step["script"] in self.job.not_run:
            self.console.write(f"stand-in: not run (the job's notRun list): {step['script']}\n")
            return 0
        # What Jenkins gives the step: the agent's environment, the pipeline's variables, PATH+NAME.
        assert self._harness is not None, "_execute loads the harness before any step runs"
        env = self._harness.ShellStep(step["stage"], step.get("label"), step["script"], step["env"],
                                      step["credentials"]).environ(agent_env)
        with tempfile.TemporaryDirectory(prefix="durable-", dir=self.dir) as tmp:
            for binding in step["credentials"]:
                credential = self.credentials.get(binding["credentialsId"])
                if credential is None:
                    missing = binding["credentialsId"]
                    self.console.write(f"ERROR: Could not find credentials entry with ID '{missing}'\n")
                    return 1
                if binding["kind"] == "string":
                    env[binding["variable"]] = credential.secret
                else:   # file: a file of the secret's content, at a path the step learns from the variable
                    path = Path(tmp) / "secretFiles" / credential.file_name
                    path.parent.mkdir(mode=0o700)
                    path.write_text(credential.secret)
                    path.chmod(0o600)
                    env[binding["variable"]] = str(path)
                self.console.write(f"Masking supported pattern matches of ${binding['variable']}\n")
            script = Path(tmp) / "script.sh"
            script.write_text(step["script"])
            if self._stop.is_set():
                return 143
            with self._lock:
                self._step_output_closed.clear()
                self._process = subprocess.Popen(["/bin/sh", "-xe", str(script)], cwd=self.job.workspace, env=env,
                                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 start_new_session=True)
            process = self._process
            assert process.stdout is not None
            for line in iter(process.stdout.readline, b""):
                self.console.write(line.decode("utf-8", errors="replace"))
            self._step_output_closed.set()
            code = process.wait()
            with self._lock:
                self._process = None
        return 128 - code if code < 0 else code

    def _archive(self, patterns: str) -> None:
        self.console.write("[Pipeline] archiveArtifacts\nArchiving artifacts\n")
        workspace = Path(self.job.workspace)
        for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
            for path in sorted(workspace.glob("**/*")):
                relative = path.relative_to(workspace).as_posix()
                if path.is_file() and fnmatch.fnmatch(relative, pattern) and relative not in self.artifacts:
                    target = self.dir / "archive" / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
                    self.artifacts.append(relative)

    def artifact(self, relative: str) -> Path | None:
        if relative not in self.artifacts:
            return None
        return self.dir / "archive" / relative


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
