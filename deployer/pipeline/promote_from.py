"""Which build a deploy ships: the commit's own, or the one an earlier environment ran.

``build_for`` is the deploy story's image decision. For an environment without ``promoteFrom`` it is
the commit's build (made once per commit). For one with ``promoteFrom: SOURCE`` it is the build of
that commit exactly as it succeeded on every SOURCE cluster, copied rather than rebuilt; a commit that
never succeeded there is refused before anything is built or written, naming `deployer promote`.
The decisions are ``deployer.rollout.promotion``'s; this module reads the records they decide on.
"""

from __future__ import annotations

from deployer.app import App
from deployer.config.models import Service
from deployer.errors import UsageError
from deployer.pipeline.history import history
from deployer.rollout.promotion import Promotion, succeeded_in
from deployer.rollout.release import ReleaseRecord


def source_records(app: App, service: Service, source: str) -> dict[str, list[ReleaseRecord]]:
    """Per cluster of ``source``, that environment's release records, read from the cluster; a
    cluster that cannot be read stops the run (nothing may be promoted on partial evidence)."""
    found = {}
    for cluster in history(app, service.name, source):
        if cluster.error is not None:
            raise cluster.error
        found[cluster.cluster] = cluster.of_environment(source).records
    return found


def build_for(app: App, service: Service, environment: str, commit: str | None, promotion: Promotion | None
              ) -> tuple[str, Promotion | None]:
    """The commit and, when the image comes from another environment, the promotion to deploy."""
    if promotion is not None:
        return promotion.commit, promotion
    commit = app.image_commit(service, commit, environment)
    source = service.environments[environment].promote_from
    if source is None:
        return commit, None
    ran = succeeded_in(commit, source, source_records(app, service, source))
    if ran is None:
        raise UsageError(f"{service.name} at commit {commit} never ran successfully on every {source} cluster, "
                         f"and {environment} takes only what {source} ran (promoteFrom: {source} in its service "
                         "file); nothing was built or written",
                         hint=f"Deploy it to {source} first (`deployer deploy {service.name} --env {source}`), then "
                              f"`deployer promote {service.name} --from {source} --to {environment}`.")
    return commit, ran
