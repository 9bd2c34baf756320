"""The platform's executables: found in KUBEBUILDER_ASSETS or the versioned cache, built if absent.

The build itself lives in scripts/build-platform-binaries.sh (the pinned versions, the wrapper
module around k8s.io/kubernetes, the lock, skip-if-present and progress lines all live there, so
a CI image can run it without Python). This module decides which binaries it needs, runs the
script with its progress going straight to the user's stderr, and returns the paths.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import ToolError
from deployer.procs import checkout_script

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
ALL_BINARIES = (*KUBE_BINARIES, "etcd", "kwok")
# What envtest ships (controller-runtime's setup-envtest): the rest still has to be built.
ENVTEST_BINARIES = ("etcd", "kube-apiserver", "kubectl")
ASSETS_ENV = "KUBEBUILDER_ASSETS"
SCRIPT_ENV = "DEPLOYER_PLATFORM_BUILD_SCRIPT"
HELM_SCRIPT_ENV = "DEPLOYER_HELM_BUILD_SCRIPT"


@dataclass(frozen=True)
class Binaries:
    paths: dict[str, Path]

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


def build_script() -> Path:
    """scripts/build-platform-binaries.sh of the checkout deployer runs from."""
    return checkout_script("build-platform-binaries.sh", SCRIPT_ENV, "platform")


def ensure_binaries(*, env: dict[str, str] | None = None) -> Binaries:
    """Paths of all six binaries and helm, building the missing ones first (tens of minutes when cold)."""
    environ = dict(os.environ if env is None else env)
    paths: dict[str, Path] = {}
    assets = environ.get(ASSETS_ENV)
    if assets:
        folder = Path(assets)
        absent = [b for b in ENVTEST_BINARIES if not (folder / b).is_file()]
        if absent:
            raise ToolError(f"{ASSETS_ENV}={assets} lacks {', '.join(absent)}",
                            hint=f"Point {ASSETS_ENV} at a folder with {', '.join(ENVTEST_BINARIES)} "
                                 "(setup-envtest prints one), or unset it to build everything.")
        paths.update({b: folder / b for b in ENVTEST_BINARIES})
    wanted = [b for b in ALL_BINARIES if b not in paths]
    script = build_script()
    # stderr is inherited: the script's progress lines reach the user as they happen.
    result = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True,
                            env={**environ, "PLATFORM_BINARIES": " ".join(wanted)})
    if result.returncode != 0:
        raise ToolError(f"building the platform binaries failed (exit {result.returncode}); its progress "
                        "and the failing step are printed above",
                        hint=f"Fix the cause and run `deployer platform prepare` again; {script} resumes "
                             "with what is still missing.")
    dest = Path(result.stdout.strip().splitlines()[-1])
    paths.update({b: dest / b for b in wanted})
    paths["helm"] = ensure_helm(environ)
    return Binaries(paths)


def ensure_helm(environ: dict[str, str]) -> Path:
    """The pinned Helm (scripts/build-helm.sh): what `source: {helm: ...}` services render with in
    the tests and the demo. A cold build takes about 4 minutes; later runs find it cached."""
    script = checkout_script("build-helm.sh", HELM_SCRIPT_ENV, "helm")
    result = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, env=environ)
    if result.returncode != 0:
        raise ToolError(f"building helm failed (exit {result.returncode}); its progress and the failing step are "
                        "printed above", hint=f"Fix the cause and run `deployer platform prepare` again ({script}).")
    return Path(result.stdout.strip().splitlines()[-1]) / "helm"

