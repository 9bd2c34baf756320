"""Finding the outside renderers (kubectl or kustomize, helm): an explicit path in an environment
variable first, then PATH, with an error that says how to get one."""

from __future__ import annotations

import os
import shutil

from deployer.errors import ToolError

KUBECTL_ENV = "DEPLOYER_KUBECTL"
HELM_ENV = "DEPLOYER_HELM"


def kustomize_command(folder: str) -> list[str]:
    """`kubectl kustomize DIR`, or `kustomize build DIR` when only kustomize is installed."""
    explicit = os.environ.get(KUBECTL_ENV)
    if explicit:
        return [_existing(explicit, KUBECTL_ENV), "kustomize", folder]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize", folder]
    kustomize = shutil.which("kustomize")
    if kustomize:
        return [kustomize, "build", folder]
    raise ToolError("a kustomize source needs kubectl or kustomize, and neither is on PATH",
                    hint=f"Install kubectl (or kustomize), or set {KUBECTL_ENV} to a kubectl binary.")


def helm_binary() -> str:
    explicit = os.environ.get(HELM_ENV)
    if explicit:
        return _existing(explicit, HELM_ENV)
    found = shutil.which("helm")
    if found is None:
        raise ToolError("a helm source needs helm (v3 or v4), and it is not on PATH",
                        hint=f"Install helm, or set {HELM_ENV} to its path (scripts/build-helm.sh builds the "
                             "pinned one from the Go module proxy).")
    return found


def _existing(path: str, variable: str) -> str:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ToolError(f"{variable}={path} is not an executable file",
                        hint=f"Point {variable} at the binary, or unset it to look on PATH.")
    return path
