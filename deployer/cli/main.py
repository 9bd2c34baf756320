"""deployer's command line: the one place that turns errors into messages and exit codes.

Commands are loaded lazily (``LazyGroup``) so ``deployer --help`` and ``deployer validate`` never
import the Kubernetes client or google-auth; start-up stays in the tens of milliseconds.
Other installed packages add commands through the ``deployer.commands`` entry-point group; the
local platform's development package (``localplatform/`` in the repository) adds ``platform`` so.
Every option is also settable as a ``DEPLOYER_*`` environment variable (click's auto_envvar_prefix),
for example ``DEPLOYER_OUTPUT=json`` or ``DEPLOYER_CLUSTER_SYNC_DRY_RUN=1``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from deployer.cli.plugins import PLUGIN_GROUP
from deployer.errors import EXIT_CODE_TABLE, DeployerError, ExitCode
from deployer.errors import UsageError as DeployerUsageError

if TYPE_CHECKING:
    from deployer.cli.plugins import PluginEntryPoint

# command name -> "module:attribute"; imported only when the command runs or its help is shown.
COMMANDS = {
    "validate": "deployer.cli.validate:validate",
    "schema": "deployer.cli.validate:schema",
    "clusters": "deployer.cli.clusters:clusters",
    "cluster": "deployer.cli.cluster:cluster",
    "deploy": "deployer.cli.deploy:deploy",
    "promote": "deployer.cli.deploy:promote",
    "rollback": "deployer.cli.deploy:rollback",
    "history": "deployer.cli.deploy:history",
    "status": "deployer.cli.status:status",
    "stats": "deployer.cli.stats:stats",
    "web": "deployer.cli.web:web",
    "wave": "deployer.cli.wave:wave",
    "jenkins": "deployer.cli.jenkins:jenkins",
    "worker": "deployer.cli.worker:worker",
    "queue": "deployer.cli.queue:queue",
}


# Commands that come from a development package of the repository, not from the shipped one: asked
# for where that package is not installed, they say so instead of "No such command".
DEVELOPMENT_COMMANDS = {"platform": ("deployer-localplatform", "localplatform")}


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, plugin_group: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.plugin_group = plugin_group
        self._plugin_entry_points: dict[str, PluginEntryPoint] | None = None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, attr = self.lazy[name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    return None  # a command whose module is not built yet is simply absent
                raise
            lazy_command: click.Command = getattr(module, attr)
            return lazy_command
        command = super().get_command(ctx, name)
        if command is None and name in self._plugins():
            command = self._plugins()[name].load()
        if command is None and name in DEVELOPMENT_COMMANDS:
            distribution, folder = DEVELOPMENT_COMMANDS[name]
            raise DeployerUsageError(
                f"`deployer {name}` is a development command: it comes from the {distribution} package "
                f"in the {folder}/ folder of deployer's repository, which is not installed here",
                hint=f"From a deployer checkout: pip install -e {folder} (`make install` does it).")
        return command

    def _plugins(self) -> dict[str, PluginEntryPoint]:
        # Scanning installed distributions costs milliseconds: only when a plugin may be wanted
        # (help, or a name that is not built in), and once per process. Built-in names win.
        if self._plugin_entry_points is None:
            found: dict[str, PluginEntryPoint] = {}
            if self.plugin_group:
                from deployer.cli.plugins import entry_points

                found = {ep.name: ep for ep in entry_points(group=self.plugin_group) if ep.name not in self.lazy}
            self._plugin_entry_points = found
        return self._plugin_entry_points

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing commands must not import them all; short help lives here instead. A plugin's
        # help comes from the plugin, whose command module is small by the same rule.
        rows = [(name, SHORT_HELP[name]) for name in self.list_commands(ctx)
                if name in SHORT_HELP and self._available(name)]
        rows += [(name, entry_point.load().get_short_help_str(formatter.width))
                 for name, entry_point in self._plugins().items()]
        rows.sort()
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _available(self, name: str) -> bool:
        module_name = self.lazy[name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None


SHORT_HELP = {
    "validate": "Check cluster and service files; every problem with file, line and field.",
    "schema": "Print the JSON Schema of cluster and service files (for editor completion).",
    "clusters": "List the declared clusters.",
    "cluster": "Render, diff, sync, verify and provision a cluster's common objects.",
    "deploy": "Build, push, apply and wait: a service to every target cluster of an environment.",
    "promote": "Deploy to one environment exactly the build another one runs (no rebuild).",
    "rollback": "Put a service back on an earlier release on every target cluster.",
    "history": "Show a service's release records per cluster.",
    "status": "Show what each cluster of a service runs now, read from the cluster; drift if it differs.",
    "stats": "Show how a service's deploys went: the four DORA figures, as text, JSON or SVG charts.",
    "web": "Serve the deploy-button page.",
    "wave": "Pause, resume or abort a deploy in waves while it bakes.",
    "jenkins": "Run a deploy or rollback as a build of the service's Jenkins job and follow it.",
    "worker": "Run the deploy page's queued jobs from its database (more machines, one PostgreSQL).",
    "queue": "Take turns deploying: join, leave or list the deploy page's push queue.",
}


class Settings:
    """Global options, passed to every command through click's context object."""

    def __init__(self, output: str, debug: bool, config_dir: Path, detailed_exitcode: bool,
                 pushgateway: str | None = None) -> None:
        self.output = output
        self.debug = debug
        self.config_dir = config_dir
        self.detailed_exitcode = detailed_exitcode
        self.pushgateway = pushgateway

    @property
    def json(self) -> bool:
        return self.output == "json"


def default_config_dir() -> Path:
    return Path.cwd()


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    plugin_group=PLUGIN_GROUP,
    context_settings={"auto_envvar_prefix": "DEPLOYER", "help_option_names": ["-h", "--help"],
                      "max_content_width": 100},
    epilog="Exit codes:\n\n\b\n" + EXIT_CODE_TABLE + "\n\nEvery option can also be set as DEPLOYER_<OPTION> "
           "(for example DEPLOYER_OUTPUT=json, DEPLOYER_CONFIG_DIR=/srv/deploy).",
)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Result format: text for people, json for machines (one JSON document on stdout).")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding clusters/, services/ and charts/ (default: the current folder).")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 10 when something was changed and 0 only when nothing was (like terraform plan).")
@click.option("--pushgateway", default=None, metavar="URL",
              help="Push the run's metrics to this Prometheus Pushgateway when it ends (from Jenkins: "
                   "DEPLOYER_PUSHGATEWAY=http://pushgateway:9091). A gateway that is down is a warning, "
                   "never a failed deploy.")
@click.version_option(package_name="deployer")
@click.pass_context
def cli(ctx: click.Context, output: str, debug: bool, config_dir: Path | None, detailed_exitcode: bool,
        pushgateway: str | None) -> None:
    """deployer: deploy services to on-premises Kubernetes and GKE at the same time.

    \b
    Start here:
      deployer validate                 check clusters/*.yaml and services/*.yaml
      deployer cluster sync --all       make every cluster's namespaces and RBAC match
      deployer deploy hello --env staging
    """
    ctx.obj = Settings(output=output, debug=debug, config_dir=config_dir or default_config_dir(),
                       detailed_exitcode=detailed_exitcode, pushgateway=pushgateway or None)


def render_error(error: DeployerError, as_json: bool) -> None:
    # Messages are written without secrets; scrubbing is the second line of defence.
    from deployer.redact import scrub

    if as_json:
        import json

        click.echo(scrub(json.dumps(error.to_dict(), indent=2)), err=False)
    click.echo(scrub(f"deployer: error: {error.message}"), err=True)
    if error.hint:
        click.echo(scrub(f"hint: {error.hint}"), err=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return (and exit with) its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    wants_json = _wants_json(args)
    debug = "--debug" in args or os.environ.get("DEPLOYER_DEBUG", "").lower() in ("1", "true", "yes")
    try:
        result = cli.main(args=args, prog_name="deployer", standalone_mode=False)
        code = int(result) if isinstance(result, int) else 0
    except click.exceptions.Abort:
        click.echo("deployer: aborted", err=True)
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except DeployerError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        render_error(exc, wants_json)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("deployer: interrupted", err=True)
        code = 130
    except Exception as exc:  # a bug: say so plainly, show the traceback only when asked
        if debug:
            raise
        from deployer.redact import scrub

        click.echo(scrub(f"deployer: internal error: {type(exc).__name__}: {exc}"), err=True)
        click.echo("hint: this is a bug in deployer; run again with --debug and report the traceback.",
                   err=True)
        code = ExitCode.INTERNAL
    return int(code)


def _wants_json(args: list[str]) -> bool:
    for i, arg in enumerate(args):
        if arg in ("--output=json", "-ojson") or (arg in ("--output", "-o") and args[i + 1:i + 2] == ["json"]):
            return True
    return os.environ.get("DEPLOYER_OUTPUT", "") == "json"


def entry() -> None:
    sys.exit(main())


__all__ = ["cli", "main", "entry", "Settings", "DeployerUsageError"]
