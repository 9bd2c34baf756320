"""`deployer jenkins trigger`: run a deploy or rollback as a build of the service's Jenkins job,
through the same executor the deploy page's workers call (deployer/jenkins/executor.py)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from deployer.cli.output import config_of, emit, settings_of


@click.group()
def jenkins() -> None:
    """Run deploys through Jenkins, as the deploy page does for services with `executor: jenkins`."""


@jenkins.command()
@click.argument("service")
@click.option("--env", "environment", required=True, help="The environment to deploy to or roll back.")
@click.option("--action", type=click.Choice(["deploy", "rollback"]), default="deploy", show_default=True,
              help="deploy: build, test and deploy the job's commit; rollback: return to an earlier release.")
@click.option("--revision", default=None, help="rollback only: the release revision to return to.")
@click.option("--actor", required=True, help="Who asks for the build; recorded as '<ACTOR> via <build URL>' in the "
                                              "locks and release records.")
@click.option("--request-id", default="", help="An id of yours for this build (the page passes its job id).")
@click.pass_context
def trigger(ctx: click.Context, service: str, environment: str, action: str, revision: str | None, actor: str,
            request_id: str) -> int:
    """Trigger SERVICE's Jenkins job, stream its console, and print each cluster's release.

    \b
    Needs jenkins.yaml in the configuration folder (url, user, tokenFile, caFile) and no cluster
    credential: Jenkins binds those to its own build. The console streams to stdout (stderr with
    --output json); Ctrl-C or SIGTERM aborts the build, which settles every cluster on a known
    release before it ends.

    \b
    Examples:
      deployer jenkins trigger hello --env staging --actor alice@example.com
      deployer --output json jenkins trigger hello --env production --action rollback --revision 3 \\
          --actor alice@example.com

    \b
    Exit codes: deployer's own, from the build's archived report (0 done, 7 failed, 8 partial, ...);
    143 when the build was aborted or cancelled; 4 the API token file is unreadable; 5 Jenkins
    refused or failed a call.
    """
    from deployer.config.loader import JENKINS_SETTINGS_FILE, load_jenkins_settings
    from deployer.errors import ConfigError, ConfigProblem
    from deployer.jenkins.executor import exit_code, run_via_jenkins

    settings = settings_of(ctx)
    config = config_of(ctx)
    jenkins_settings = load_jenkins_settings(config.root)
    if jenkins_settings is None:
        raise ConfigError([ConfigProblem(str(config.root / JENKINS_SETTINGS_FILE), None, None, "",
                                         "no such file: it says how to reach Jenkins (url, user, tokenFile)")],
                          hint="Create it as docs/jenkins.md shows.")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    parameters = {"REQUEST_ID": request_id, **({"REVISION": revision} if revision else {})}
    try:
        outcome = run_via_jenkins(jenkins_settings, config.service(service), environment, action, parameters, actor,
                                  lambda line: click.echo(line, err=settings.json), stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    emit(settings, outcome.to_dict(), lambda: _text(outcome))
    return int(exit_code(outcome))


def _text(outcome: object) -> str:
    from deployer.jenkins.executor import JenkinsOutcome

    assert isinstance(outcome, JenkinsOutcome)
    lines = [f"jenkins: {outcome.result} {outcome.build_url or outcome.queue_url}"]
    lines += [f"{c.cluster}  {c.outcome}  {c.release}" for c in outcome.clusters]
    return "\n".join(lines)
