"""Build once per commit, push to every target cluster's registry, and resolve the digest to pin.

The tag is the commit alone, whatever the environment: if the image for this commit already exists
in a target registry, nothing is built, and the image is copied digest-preserving to the registries
that lack it, so every cluster of every environment runs the same bytes. A promotion
(``copy_digest``) never builds: it copies the digest the source environment ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from deployer import procs
from deployer.config.models import Cluster, ImageBuild
from deployer.errors import ToolError
from deployer.images.backends import Backend, Registry

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Published:
    repository: str  # registry/path/name
    tag: str
    digest: str
    how: str  # "built", "copied" or "present"

    @property
    def pinned(self) -> str:
        # Unbuilt images (a dry run of a new commit) can only be named by tag.
        return f"{self.repository}@{self.digest}" if self.digest else self.tagged

    @property
    def tagged(self) -> str:
        return f"{self.repository}:{self.tag}"


def image_tag(commit: str) -> str:
    """The commit is the whole tag: every environment deploys the one build of it."""
    return commit[:40]


def source_commit(context: Path) -> str:
    """The last git commit that changed the build context (a folder, or one file such as a packaged
    chart), 12 hex digits (so commits elsewhere in the repository do not force a rebuild of the
    same sources); ``-dirty<hash>`` when the context has uncommitted changes, so the
    skip-if-present check never reuses an image of other sources."""
    hint = "Commit the service's sources, or pass --commit (or DEPLOYER_COMMIT) to name the image tag yourself."
    if not context.exists():
        raise ToolError(f"cannot read the git commit of {context}: it does not exist", hint=hint)
    folder, pathspec = (context, ".") if context.is_dir() else (context.parent, context.name)
    head = procs.run(["git", "-C", str(folder), "log", "-1", "--format=%H", "--", pathspec],
                     what=f"read the git commit of {context}", hint=hint)
    commit = head.stdout.strip()[:12]
    if not commit:
        raise ToolError(f"{context} has no committed history in git", hint=hint)
    status = procs.run(["git", "-C", str(folder), "status", "--porcelain", "--", pathspec],
                       what=f"check {context} for uncommitted changes")
    if status.stdout.strip():
        return f"{commit}-dirty{_tree_hash(context)}"
    return commit


def _tree_hash(context: Path) -> str:
    digest = hashlib.sha256()
    files = [context] if context.is_file() else sorted(p for p in context.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(context if context.is_dir() else context.parent)).encode()
                      + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:8]


def repositories(name: str, clusters: Iterable[Cluster]) -> dict[str, str]:
    """cluster name -> the repository image ``name`` is pushed to."""
    return {c.name: f"{c.registry}/{name}" for c in clusters}


def publish(image: ImageBuild, service_dir: Path, clusters: list[Cluster], tag: str, *,
            backend: Callable[[], Backend], registry: Registry, progress: Progress = lambda _: None,
            dry_run: bool = False) -> dict[str, Published]:
    """Make ``<registry>/<image>:<tag>`` exist in every target cluster's registry; return per cluster."""
    by_cluster = repositories(image.name, clusters)
    unique = sorted(set(by_cluster.values()))
    present = {repo: registry.digest(f"{repo}:{tag}") for repo in unique}
    results: dict[str, Published] = {}
    found = {repo: d for repo, d in present.items() if d}
    missing = [repo for repo in unique if not present[repo]]
    if found:
        source = next(iter(found))
        for repo, digest in found.items():
            progress(f"image {repo}:{tag} already in the registry ({digest[:19]}); not building")
            results[repo] = Published(repo, tag, digest, "present")
        for repo in missing:
            if dry_run:
                results[repo] = Published(repo, tag, found[source], "would be copied (dry run)")
                continue
            progress(f"copying {source}:{tag} to {repo}")
            registry.copy(f"{source}:{tag}", f"{repo}:{tag}")
            results[repo] = Published(repo, tag, found[source], "copied")
    elif dry_run:
        for repo in unique:
            progress(f"dry run: {repo}:{tag} does not exist yet and would be built")
            results[repo] = Published(repo, tag, "", "not built (dry run)")
    else:
        builder = backend()
        context = (service_dir / image.context).resolve()
        dockerfile = context / image.dockerfile
        local = f"localhost/deployer/{image.name}:{tag}"
        progress(f"building {image.name}:{tag} with {builder.name} from {context}")
        builder.build(context, dockerfile, local, dict(image.build_args))
        for repo in unique:
            progress(f"pushing {repo}:{tag}")
            results[repo] = Published(repo, tag, builder.push(local, f"{repo}:{tag}"), "built")
    return {cluster: results[repo] for cluster, repo in by_cluster.items()}


def copy_digest(name: str, clusters: list[Cluster], source: str, digest: str, tag: str, *,
                registry: Registry, progress: Progress = lambda _: None, dry_run: bool = False
                ) -> dict[str, Published]:
    """Make ``digest`` (copied from ``source``, a pinned reference) exist as image ``name`` in every
    target cluster's registry, tagged ``tag``; nothing is built. A registry that has the digest
    already is left alone."""
    by_cluster = repositories(name, clusters)
    results: dict[str, Published] = {}
    for repo in sorted(set(by_cluster.values())):
        if registry.digest(f"{repo}@{digest}") == digest:
            progress(f"image {repo}@{digest[:19]} already in the registry; not copying")
            results[repo] = Published(repo, tag, digest, "present")
        elif dry_run:
            results[repo] = Published(repo, tag, digest, "would be copied (dry run)")
        else:
            progress(f"copying {source} to {repo}:{tag} (by digest, no rebuild)")
            registry.copy(source, f"{repo}:{tag}")
            copied = registry.digest(f"{repo}@{digest}")
            if copied != digest:
                raise ToolError(f"copy {source} to {repo}:{tag}: the registry holds {copied or 'nothing'} "
                                f"there, not {digest}", hint="The copy must keep the manifest's bytes; check "
                                                              "that skopeo and the registry support the format.")
            results[repo] = Published(repo, tag, digest, "copied")
    return {cluster: results[repo] for cluster, repo in by_cluster.items()}


def _untagged(source: str) -> str:
    """``source`` without tag or digest (a colon before the last slash is a registry's port)."""
    name = source.split("@", 1)[0]
    return name[:name.rfind(":")] if name.rfind(":") > name.rfind("/") else name


def publish_prebuilt(source: str, clusters: list[Cluster], *, registry: Registry, progress: Progress = lambda _: None,
                     dry_run: bool = False) -> dict[str, Published]:
    """A prebuilt image in every target cluster's registry, by digest: ``source``'s digest (its own
    when pinned, else what its tag points at now, asked once per run so every cluster gets the same
    bytes even if the tag moves meanwhile), copied under its last path segment
    (``registry.example.com/team/redis:7`` -> ``<cluster registry>/redis``)."""
    digest = source.split("@", 1)[1] if "@" in source else registry.digest(source)
    if not digest:
        raise ToolError(f"prebuilt image {source}: the registry has no such tag",
                        hint="Check the reference in the service file's images, and that its registry holds it.")
    progress(f"prebuilt image {source} is {digest}")
    name = _untagged(source).rsplit("/", 1)[-1]
    return copy_digest(name, clusters, f"{_untagged(source)}@{digest}", digest, digest.replace(":", "-"),
                       registry=registry, progress=progress, dry_run=dry_run)


def copy_prebuilt(declared: str, ran: str, clusters: list[Cluster], *, registry: Registry,
                  progress: Progress = lambda _: None, dry_run: bool = False) -> dict[str, Published]:
    """A promoted release's prebuilt image: ``ran`` (a source cluster's pinned copy of ``declared``)
    copied by digest under the name ``publish_prebuilt`` gives it; the declared tag is not looked
    up again, since it may point elsewhere now."""
    digest = ran.rpartition("@")[2]
    progress(f"prebuilt image {declared} as the source ran it: {digest}")
    return copy_digest(_untagged(declared).rsplit("/", 1)[-1], clusters, ran, digest, digest.replace(":", "-"),
                       registry=registry, progress=progress, dry_run=dry_run)


def promote_build(name: str, promoted: str, tag: str, clusters: list[Cluster], *, registry: Registry,
                  progress: Progress = lambda _: None, dry_run: bool = False) -> dict[str, Published]:
    """Another built image of a promoted release: the build of ``tag`` in the registry the promoted
    image came from (``promoted``, a source cluster's pinned reference), copied by digest; never
    rebuilt."""
    source = f"{promoted.split('@', 1)[0].rsplit('/', 1)[0]}/{name}"
    digest = registry.digest(f"{source}:{tag}")
    if not digest:
        raise ToolError(f"promote image {name}: {source}:{tag} does not exist, so there is no build of it to "
                        "promote", hint="Deploy the commit to the source environment first; a promotion never builds.")
    return copy_digest(name, clusters, f"{source}@{digest}", digest, tag, registry=registry, progress=progress,
                       dry_run=dry_run)
