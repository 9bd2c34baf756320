"""The one choke point for running Terraform: python-terraform, wrapped and corrected.

Everything deployer asks of Terraform goes through :class:`TerraformRunner`: one working folder,
one environment, a timeout per command, and failures turned into a ``ToolError`` that shows
Terraform's own error lines, scrubbed of secrets.

python-terraform 0.10.1 (2020) builds command lines well but targets Terraform 0.12. Checked
against Terraform 1.11 and OpenTofu, what it gets wrong and how this module works around it:

- ``cmd()`` takes no environment: it copies ``os.environ`` as is. deployer must hand Terraform a
  credential and a CLI config per run (and a run per cluster may go in parallel), so
  :class:`_PythonTerraform` overrides ``cmd()``: same command line (python-terraform's
  ``generate_cmd_string``), but run with an explicit environment and a timeout.
- ``cmd()`` logs Terraform's whole stdout and stderr (``log.debug``/``log.warn``), and
  ``__getattr__`` logs every call's keyword arguments on the root logger. Terraform's output can
  hold values from state; the override logs nothing, and this module never calls a command
  through ``__getattr__``.
- Every typed method passes ``var=self.variables``, and a dict is written to a temporary
  ``-var-file`` even when empty. Variables here live in ``terraform.tfvars.json`` in the working
  folder (Terraform loads it by itself, and a human can rerun a command there unchanged), so
  every call passes ``var=None``, which python-terraform skips.
- After each successful command it parses the state file into memory (``read_state_file``).
  State may hold a private key (create_key); the override does not read it.
- ``plan()`` always passes ``-detailed-exitcode``, whose exit code 2 means "succeeded, with
  changes"; python-terraform treats any non-zero code as failure. 0 and 2 are success here.
- ``apply()`` sends ``-auto-approve=false`` unless ``skip_plan``: harmless, because deployer
  only ever applies a saved plan file, which Terraform applies without asking.
- ``destroy()`` sends ``-force``, removed in Terraform 0.15 ("flag provided but not defined");
  deployer never destroys.
- ``init()`` sends ``-reconfigure -backend=true``. Right for generated backend settings: the
  working folder's backend is rewritten from deployer's settings every run, so an old one must
  never be migrated from.
- The ``state=`` option (``-state=PATH``) is deprecated for the local backend and ignored by
  remote ones. The state location comes from the generated backend block instead.
- ``output()`` returns ``None`` on any failure and discards the error; ``output -json`` is run
  through ``cmd()`` instead.
- ``-input=false`` and ``-no-color`` are sent by every typed method (good); ``show`` and
  ``output``, run through ``cmd()``, get ``-no-color`` explicitly (they take no ``-input``).

Environment: ``TF_IN_AUTOMATION`` (no "run terraform apply next" advice), ``TF_INPUT=0``,
``CHECKPOINT_DISABLE`` (no call to HashiCorp's version check). Inherited ``TF_LOG*`` are
dropped (provider debug logs dump request headers, bearer token included), as are
``TF_CLI_ARGS*`` and ``TF_VAR_*`` (they would change the run behind the cluster file's back) and
Google credential variables (the identity is exactly the one deployer hands over).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform

from deployer.errors import ToolError
from deployer.infra.summary import PlanSummary, error_lines, summarize_plan, warning_headlines
from deployer.redact import register, scrub

DEFAULT_TIMEOUT = 1800.0
LOCK_TIMEOUT = "120s"
TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"
# Environment variables a Terraform run must not inherit (see the module docstring).
_DROPPED_PREFIXES = ("TF_LOG", "TF_CLI_ARGS", "TF_VAR_")
_DROPPED = {"TF_WORKSPACE", "TF_DATA_DIR", "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON",
            "GCLOUD_KEYFILE_JSON", "GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT",
            "GOOGLE_BACKEND_CREDENTIALS", "GOOGLE_BACKEND_IMPERSONATE_SERVICE_ACCOUNT"}


@dataclass(frozen=True)
class TerraformTools:
    """Which Terraform to run, and with which CLI configuration."""

    binary: str
    """terraform or tofu (a path or a name on PATH)."""
    cli_config: Path | None = None
    """Becomes TF_CLI_CONFIG_FILE (e.g. the provider mirror's terraform.rc); None keeps the user's."""


def terraform_env(base: Mapping[str, str], tools: TerraformTools, access_token: str | None) -> dict[str, str]:
    """The environment of one Terraform run: ``base`` cleaned, plus deployer's settings."""
    env = {k: v for k, v in base.items()
           if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)}
    env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
    if tools.cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(tools.cli_config)
    if access_token:
        # Read by the google provider and the gcs backend; an environment variable never
        # reaches a plan file, the state or Terraform's output.
        env[TOKEN_ENV] = access_token
    return env


class _PythonTerraform(Terraform):  # type: ignore[misc]  # python-terraform ships no types
    """python-terraform's Terraform, with ``cmd`` run our way (see the module docstring)."""

    def __init__(self, workdir: Path, binary: str) -> None:
        self.env: dict[str, str] = {}
        self.timeout = DEFAULT_TIMEOUT
        super().__init__(working_dir=str(workdir), terraform_bin_path=binary)

    def read_state_file(self, file_path: str | None = None) -> None:
        self.tfstate = None

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        for option in ("capture_output", "raise_on_error", "synchronous"):
            kwargs.pop(option, None)
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        try:
            proc = subprocess.run(argv, cwd=self.working_dir, env=self.env, capture_output=True, text=True,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL)
        finally:
            self.temp_var_files.clean_up()
        return proc.returncode, proc.stdout, proc.stderr


class TerraformRunner:
    """Terraform in one working folder (a root configuration with its backend and variables).

    ``what`` names the thing for messages ("cluster gke-staging"); ``api_hint`` is the hint of a
    failed plan or apply (what the provider's API calls need); ``access_token`` is called before
    each command, so a long run never starts a command with an expired token.
    """

    def __init__(self, workdir: Path, tools: TerraformTools, *, what: str, api_hint: str = "",
                 access_token: Callable[[], str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                 base_env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.tools = tools
        self.what = what
        self.api_hint = api_hint
        self._access_token = access_token
        self._base_env = base_env
        self._tf = _PythonTerraform(workdir, tools.binary)
        self._tf.timeout = timeout

    # --- commands ------------------------------------------------------------------------------

    def init(self) -> None:
        self._run("init", lambda tf: tf.init(var=None, lock_timeout=LOCK_TIMEOUT),
                  hint="Check the backend settings and that the provider is installable: with a local "
                       "mirror, TF_CLI_CONFIG_FILE must name its terraform.rc "
                       "(scripts/build-terraform-provider.sh prints it).")

    def plan(self, plan_file: Path) -> PlanSummary:
        """Plan into ``plan_file``; the summary comes from Terraform's JSON rendering of it."""
        code, out, err = self._run("plan", lambda tf: tf.plan(out=str(plan_file), var=None,
                                                               lock_timeout=LOCK_TIMEOUT),
                                   ok=(0, 2), hint=self.api_hint)
        _, shown, _ = self._run("show", lambda tf: tf.cmd("show", str(plan_file), json=IsFlagged,
                                                          no_color=IsFlagged))
        try:
            plan_json = json.loads(shown)
        except ValueError:
            raise ToolError(f"{self.what}: terraform show -json printed something that is not JSON",
                            hint="Run `terraform show -json` in the working folder to see it.") from None
        summary = summarize_plan(plan_json, warning_headlines(out, err))
        if code == 0 and summary.has_changes:
            # -detailed-exitcode and the JSON plan disagree: trust neither silently.
            raise ToolError(f"{self.what}: terraform plan exited 0 (no changes) but its plan lists "
                            f"{summary.describe()}", hint="Run terraform plan in the working folder.")
        return summary

    def apply(self, plan_file: Path) -> None:
        self._run("apply", lambda tf: tf.apply(str(plan_file), var=None, lock_timeout=LOCK_TIMEOUT),
                  hint=(self.api_hint + " " if self.api_hint else "") + "Whatever was created before the "
                       "failure is recorded in the state: running again continues from there.")

    def state_addresses(self) -> set[str]:
        """Resource addresses the state holds (``terraform state list``); empty for a new state."""
        code, out, err = self._run("state list", lambda tf: tf.cmd("state list"), ok=(0, 1))
        if code == 1:
            if "No state file was found" in err + out:
                return set()  # a first provision: nothing applied yet
            lines = "\n".join("    " + line if line else "" for line in error_lines(err, out))
            raise ToolError(f"{self.what}: terraform state list failed (exit 1):\n{scrub(lines)}",
                            hint=f"The working folder is {self.workdir}.")
        return {line.strip() for line in out.splitlines() if line.strip()}

    def adopt(self, address: str, resource_id: str) -> bool:
        """``terraform import`` an object that exists remotely but not in the state; False when
        there is nothing remote to import (the plan will then create it)."""
        code, out, err = self._run("import", lambda tf: tf.cmd("import", address, resource_id, no_color=IsFlagged,
                                                                input=False, lock_timeout=LOCK_TIMEOUT),
                                   ok=(0, 1))
        if code == 0:
            return True
        if "non-existent remote object" in err + out:
            return False
        lines = "\n".join("    " + line if line else "" for line in error_lines(err, out))
        raise ToolError(f"{self.what}: terraform import {address} failed (exit {code}):\n{scrub(lines)}",
                        hint=self.api_hint or f"The working folder is {self.workdir}.")

    def outputs(self) -> dict[str, Any]:
        """``terraform output -json``: every root output, sensitive ones included (handle with care)."""
        _, out, _ = self._run("output", lambda tf: tf.cmd("output", json=IsFlagged, no_color=IsFlagged))
        try:
            parsed: dict[str, Any] = json.loads(out or "{}")
            return parsed
        except ValueError:
            raise ToolError(f"{self.what}: terraform output -json printed something that is not JSON") from None

    # --- the choke point ---------------------------------------------------------------------------

    def _run(self, step: str, call: Callable[[_PythonTerraform], tuple[int, str, str]], *,
             ok: tuple[int, ...] = (0,), hint: str = "") -> tuple[int, str, str]:
        token = self._access_token() if self._access_token else None
        register(token)
        self._tf.env = terraform_env(os.environ if self._base_env is None else self._base_env, self.tools, token)
        try:
            code, out, err = call(self._tf)
        except FileNotFoundError:
            raise ToolError(f"{self.what}: {self.tools.binary} is not installed (not found on PATH)",
                            hint="Install Terraform 1.5+ or OpenTofu 1.6+, or set DEPLOYER_TERRAFORM to its "
                                 "path.") from None
        except subprocess.TimeoutExpired:
            raise ToolError(f"{self.what}: terraform {step} did not finish within {self._tf.timeout:.0f}s",
                            hint=f"Look for a stuck lock or an unreachable API; the working folder is "
                                 f"{self.workdir}.") from None
        finally:
            self._tf.env = {}
        if code not in ok:
            lines = "\n".join("    " + line if line else "" for line in error_lines(err, out))
            raise ToolError(f"{self.what}: terraform {step} failed (exit {code}):\n{scrub(lines)}",
                            hint=hint or f"The working folder is {self.workdir}.")
        return code, out, err
