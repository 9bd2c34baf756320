"""Where the peers' binaries are: kubectl from the local platform's pinned Kubernetes build, Helm
from the folder scripts/build-helm.sh builds it into (the script's own rule: $DEPLOYER_PLATFORM_CACHE
or ~/.cache/deployer/platform, then helm-$HELM_VERSION). Running the script when it exists keeps one
owner of that rule; it skips the build when the binary is there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_HELM = REPO / "scripts" / "build-helm.sh"


class PeerMissing(RuntimeError):
    """A peer tool the benchmark compares with cannot be found or built."""


def cache_root() -> Path:
    return Path(os.environ.get("DEPLOYER_PLATFORM_CACHE") or Path.home() / ".cache/deployer/platform")


def kubectl() -> Path:
    from deployer_localplatform.binaries import ensure_binaries

    return ensure_binaries().paths["kubectl"]


def helm() -> Path:
    """The pinned Helm binary, built by scripts/build-helm.sh on first use."""
    if BUILD_HELM.is_file():
        done = subprocess.run(["bash", str(BUILD_HELM)], stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise PeerMissing(f"{BUILD_HELM} failed (exit {done.returncode}); its log is above")
        folder = Path(done.stdout.strip().splitlines()[-1])
        return folder / "helm"
    # Before scripts/build-helm.sh is merged: the folder it builds into, if a build left one.
    version = os.environ.get("HELM_VERSION")
    found = sorted(cache_root().glob(f"helm-{version or '*'}/helm"))
    if found:
        return found[-1]
    raise PeerMissing(f"no Helm binary under {cache_root()}/helm-*/ and no {BUILD_HELM} to build one: "
                      "build it with the inputs-sources branch's scripts/build-helm.sh, or run with "
                      "CASES excluding the Helm peer")
