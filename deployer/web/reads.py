"""What the pages read: through the stories' own functions (``status``, ``history``, promote's
``chosen_release``) with the web process's shared ``App``, plus ``git log`` for the commits a
promotion adds. The view models in ``deployer.web.views`` turn the answers into pages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deployer import procs
from deployer.app import App
from deployer.errors import DeployerError, UsageError
from deployer.rollout.promotion import Promotion
from deployer.web.views.common import RunningJob
from deployer.web.views.history import ServiceHistory, service_history
from deployer.web.views.overview import ServiceCard, production_of, service_card
from deployer.web.views.promote import (
    Commit,
    CommitLog,
    PromotePreview,
    commit_range,
    promote_preview,
    shipment,
    target_releases,
)

GIT_TIMEOUT = 20.0
MAX_COMMITS = 200
"""A promotion that adds more commits than this lists the newest ones and says how many it left out."""
_SEP = "\x1f"


def overview(app: App, jobs: list[RunningJob]) -> list[ServiceCard]:
    """Every service, read as `deployer status` reads it (services in parallel, each service's
    clusters in parallel inside ``status``)."""
    from deployer.pipeline.status import status

    config = app.config

    def read(name: str) -> ServiceCard:
        try:
            found = status(app, name)
        except DeployerError as exc:
            return service_card(config, name, exc, jobs)
        return service_card(config, name, found, jobs)

    names = sorted(config.services)
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return list(pool.map(read, names))


def service_page(app: App, name: str) -> ServiceHistory:
    """Every release record of ``name`` on every cluster of every environment (`deployer history`)."""
    from deployer.pipeline.history import history

    return service_history(app.config, name, history(app, name))


def promote_page(app: App, name: str, source: str, target: str) -> PromotePreview:
    """What `deployer promote NAME --from SOURCE --to TARGET` would ship, what TARGET runs, and the
    commits between. A bad environment pair raises (the route answers 400); a promotion the story
    would refuse is shown with its reason."""
    from deployer.pipeline.history import history
    from deployer.pipeline.promote import check_environments, chosen_release

    service = app.config.service(name)
    check_environments(service, source, target)
    chosen: Promotion | UsageError
    try:
        chosen = chosen_release(app, service, source, target)
    except UsageError as exc:
        chosen = exc
    except DeployerError as exc:  # a source cluster that cannot be read: nothing may be promoted
        chosen = UsageError(exc.message, hint=exc.hint)
    clusters = list(service.environments[target].clusters)
    runs_now = target_releases(history(app, name, target), target, clusters)
    ships = None if isinstance(chosen, UsageError) else shipment(chosen)
    span = commit_range(runs_now, ships)
    if isinstance(span, str):
        commits = CommitLog(runs_now[0].commit if runs_now else "", ships.commit if ships else "", unavailable=span)
    else:
        commits = commits_between(repository_of(app, name), *span)
    return promote_preview(name, source, target, production_of(app.config, name, target), chosen, runs_now,
                           commits)


def repository_of(app: App, name: str) -> Path:
    """The folder whose git history names the service's commits: its build context (where the
    image's commit is read, ``App.image_commit``), else its manifests folder."""
    service = app.config.service(name)
    folder = app.config.service_files[service.name].parent
    build = service.primary_build
    return (folder / (build.context if build else service.manifests)).resolve()


def commits_between(folder: Path, old: str, new: str) -> CommitLog:
    """``git log OLD..NEW`` in ``folder`` (limited to it, as image commits are), newest first; or
    the plain reason git could not answer."""
    if not folder.is_dir():
        return CommitLog(old, new, unavailable=f"the service's repository folder {folder} does not exist here")
    try:
        inside = procs.run(["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"], what="find the "
                           f"git repository of {folder}", timeout=GIT_TIMEOUT, check=False)
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return CommitLog(old, new, unavailable=f"{folder} is not in a git repository this server can read")
        for commit in (old, new):
            known = procs.run(["git", "-C", str(folder), "cat-file", "-e", f"{commit}^{{commit}}"],
                              what=f"look up commit {commit}", timeout=GIT_TIMEOUT, check=False)
            if known.returncode != 0:
                return CommitLog(old, new, unavailable=f"commit {commit} is not in the repository at {folder} "
                                                       "(fetch it there to see the commits between)")
        log = procs.run(["git", "-C", str(folder), "log", f"--max-count={MAX_COMMITS}",
                         f"--format=%H{_SEP}%an{_SEP}%aI{_SEP}%s", f"{old}..{new}", "--", "."],
                        what=f"list the commits between {old} and {new}", timeout=GIT_TIMEOUT)
    except DeployerError as exc:
        return CommitLog(old, new, unavailable=exc.message)
    commits = []
    for line in log.stdout.splitlines():
        sha, author, date, subject = (line.split(_SEP, 3) + ["", "", ""])[:4]
        commits.append(Commit(sha, author, date, subject))
    return CommitLog(old, new, commits)
