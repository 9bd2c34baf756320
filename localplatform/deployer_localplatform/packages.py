"""The Debian packages the platform runs: the registry, and buildah/skopeo for images.

Installed with apt-get when missing (the platform targets Debian 12 build machines where the
runner is root); a non-root user gets the exact command to run instead.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from deployer.errors import ToolError

REQUIRED = ("docker-registry", "buildah", "skopeo")


def missing_packages(packages: tuple[str, ...] = REQUIRED) -> list[str]:
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", *packages],
                                capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise ToolError("dpkg-query is not available: the local platform expects a Debian system",
                        hint=f"Install {', '.join(packages)} with your package manager.") from exc
    installed = {line.split()[0] for line in result.stdout.splitlines()
                 if len(line.split()) > 1 and line.split()[1].startswith("ii")}
    return [p for p in packages if p not in installed]


def ensure_packages(progress: Callable[[str], None], packages: tuple[str, ...] = REQUIRED) -> None:
    missing = missing_packages(packages)
    if not missing:
        return
    command = f"apt-get update && apt-get install -y {' '.join(missing)}"
    if os.geteuid() != 0:
        raise ToolError(f"the local platform needs the Debian packages {', '.join(missing)}",
                        hint=f"Install them: sudo sh -c '{command}'")
    progress(f"installing Debian packages: {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", *missing]):
        # Output goes to stderr so `--output json` keeps stdout to one document.
        result = subprocess.run(argv, env=env, stdout=2, stderr=2)
        if result.returncode != 0:
            raise ToolError(f"`{' '.join(argv)}` failed with exit {result.returncode} (its output is above)",
                            hint=f"Run `{command}` by hand to see why.")
