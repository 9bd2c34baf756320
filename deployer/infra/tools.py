"""Finding Terraform, and the locally built google provider for runs without the registry.

The provider build lives in scripts/build-terraform-provider.sh (module version, filesystem
mirror layout, lock, skip-if-present and progress are there, so CI can run it without Python);
this module runs it and returns the CLI config it writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deployer.errors import ToolError
from deployer.infra.terraform import TerraformTools
from deployer.procs import checkout_script

BINARY_ENV = "DEPLOYER_TERRAFORM"
SCRIPT_ENV = "DEPLOYER_PROVIDER_BUILD_SCRIPT"
CLI_CONFIG_ENV = "TF_CLI_CONFIG_FILE"


def find_terraform() -> str:
    """$DEPLOYER_TERRAFORM, else terraform, else tofu on PATH."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise ToolError(f"{BINARY_ENV}={explicit} is not an executable",
                            hint=f"Point {BINARY_ENV} at terraform (1.5+) or tofu (1.6+).")
        return found
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            return found
    raise ToolError("neither terraform nor tofu is installed (not found on PATH)",
                    hint=f"Install Terraform 1.5+ or OpenTofu 1.6+, or set {BINARY_ENV} to its path.")


def discover_tools(cli_config: Path | None = None) -> TerraformTools:
    """The Terraform binary, and ``cli_config`` if given (else the user's TF_CLI_CONFIG_FILE stays)."""
    return TerraformTools(binary=find_terraform(), cli_config=cli_config)


def provider_build_script() -> Path:
    return checkout_script("build-terraform-provider.sh", SCRIPT_ENV, "provider")


def ensure_google_provider(*, env: dict[str, str] | None = None, quiet: bool = False) -> Path:
    """Build (or find in the cache) the google provider; returns the CLI config naming its mirror.

    A cold build takes minutes. Its progress goes to the caller's stderr unless ``quiet``, in which
    case it is kept and shown only if the build fails.
    """
    script = provider_build_script()
    result = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if quiet else None, text=True,
                            env=dict(os.environ if env is None else env))
    if result.returncode != 0:
        shown = ""
        if quiet and result.stderr:
            shown = ":\n" + "\n".join("    " + line for line in result.stderr.strip().splitlines()[-15:])
        reason = "Go is not installed" if result.returncode == 3 else f"exit {result.returncode}"
        raise ToolError(f"building the google Terraform provider failed ({reason}){shown}",
                        hint=f"Fix the cause and run {script} again; it resumes from the module cache.")
    return Path(result.stdout.strip().splitlines()[-1])
