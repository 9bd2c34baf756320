"""Image build backends: buildah (daemonless; what runs where no Docker engine does) and docker.

Registries on the loopback address are spoken to over plain HTTP, as Docker does by default for
localhost; every other registry over verified TLS.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Protocol

from deployer import procs
from deployer.errors import ToolError


def is_loopback(registry: str) -> bool:
    host = registry.split("/", 1)[0].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


class Backend(Protocol):
    name: str

    def build(self, context: Path, dockerfile: Path, tag: str, build_args: dict[str, str]) -> None: ...

    def push(self, local_tag: str, remote: str) -> str:
        """Push and return the pushed manifest's digest (sha256:...)."""


class Buildah:
    """buildah with the vfs storage driver and chroot isolation: works as root with no daemon."""

    name = "buildah"

    def __init__(self, storage_root: Path | None = None) -> None:
        procs.require("buildah", "Install it: apt-get install buildah (or use --builder docker).")
        root = storage_root or Path(os.environ.get("DEPLOYER_BUILDAH_ROOT",
                                                   Path.home() / ".local/share/deployer/buildah"))
        self._global = ["--root", str(root / "storage"), "--runroot", str(root / "run"), "--storage-driver", "vfs"]

    def build(self, context: Path, dockerfile: Path, tag: str, build_args: dict[str, str]) -> None:
        args = [f"--build-arg={k}={v}" for k, v in sorted(build_args.items())]
        procs.run(["buildah", *self._global, "bud", "--isolation", "chroot", "--layers=false", "-f",
                   str(dockerfile), "-t", tag, *args, str(context)],
                  what=f"build {tag}", timeout=1800)

    def push(self, local_tag: str, remote: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            digest_file = Path(tmp) / "digest"
            procs.run(["buildah", *self._global, "push", f"--tls-verify={str(not is_loopback(remote)).lower()}",
                       "--digestfile", str(digest_file), local_tag, f"docker://{remote}"],
                      what=f"push {remote}", timeout=900)
            return digest_file.read_text().strip()


class Docker:
    name = "docker"

    def __init__(self) -> None:
        procs.require("docker", "Install Docker, or use --builder buildah.")

    def build(self, context: Path, dockerfile: Path, tag: str, build_args: dict[str, str]) -> None:
        args = [a for k, v in sorted(build_args.items()) for a in ("--build-arg", f"{k}={v}")]
        procs.run(["docker", "build", "-f", str(dockerfile), "-t", tag, *args, str(context)],
                  what=f"build {tag}", timeout=1800)

    def push(self, local_tag: str, remote: str) -> str:
        procs.run(["docker", "tag", local_tag, remote], what=f"tag {remote}")
        procs.run(["docker", "push", remote], what=f"push {remote}", timeout=900)
        proc = procs.run(["docker", "inspect", "--format", "{{json .RepoDigests}}", remote], what=f"inspect {remote}")
        repo = remote.rsplit(":", 1)[0]
        for entry in json.loads(proc.stdout or "[]"):
            if isinstance(entry, str) and entry.startswith(repo + "@"):
                return entry.split("@", 1)[1]
        raise ToolError(f"push {remote}: docker reported no digest for it")


class Registry:
    """Reads and copies images in registries with skopeo (no daemon, no local storage)."""

    def __init__(self) -> None:
        procs.require("skopeo", "Install it: apt-get install skopeo.")

    def digest(self, ref: str) -> str | None:
        """The digest ``ref`` (repo:tag) points at, or None when the tag does not exist."""
        proc = procs.run(["skopeo", "inspect", "--raw", f"--tls-verify={str(not is_loopback(ref)).lower()}",
                          f"docker://{ref}"], what=f"inspect {ref}", check=False, timeout=120)
        if proc.returncode != 0:
            text = proc.stderr.lower()
            if "manifest unknown" in text or "not found" in text or "name_unknown" in text:
                return None
            raise ToolError(f"inspect {ref}: skopeo exited with {proc.returncode}:\n{procs.indent_tail(proc.stderr)}",
                            hint="Check that the registry is reachable and the credentials allow reading.")
        import hashlib

        # The digest of a manifest is the sha256 of its exact bytes (OCI distribution spec).
        return "sha256:" + hashlib.sha256(proc.stdout.encode()).hexdigest()

    def copy(self, source: str, target: str) -> None:
        """Copy an image between registries without changing its manifest, so its digest stays."""
        procs.run(["skopeo", "copy", "--preserve-digests",
                   f"--src-tls-verify={str(not is_loopback(source)).lower()}",
                   f"--dest-tls-verify={str(not is_loopback(target)).lower()}",
                   f"docker://{source}", f"docker://{target}"], what=f"copy {source} to {target}", timeout=900)


def backend(name: str) -> Backend:
    if name == "buildah":
        return Buildah()
    if name == "docker":
        return Docker()
    raise ValueError(name)
