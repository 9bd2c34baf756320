"""`deployer platform prepare|up|down|status` (or `deployer-platform ...`): the local platform.

deployer's CLI finds the `platform` group through this package's ``deployer.commands`` entry
point, so the commands exist only where this development package is installed. They run inside
deployer's CLI either way: its global options, error messages and exit codes apply.

Progress goes to stderr as plain lines (they read the same in Jenkins logs); the result goes to
stdout, as one JSON document with --output json.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deployer.cli.main import cli as deployer_cli
from deployer.cli.main import main as deployer_main
from deployer.cli.output import emit, settings_of, table

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), envvar="DEPLOYER_PLATFORM_STATE",
    default=None, show_envvar=True,
    help="The platform's state folder (default: ~/.local/state/deployer/platform).")


def _progress(message: str) -> None:
    click.echo(f"platform: {message}", err=True)


@click.group(short_help="Start, stop and inspect the local platform (real clusters, registry, GCP stand-in).")
def platform() -> None:
    """The local platform: two real Kubernetes clusters (local-onprem, local-gke) as processes,
    an image registry and a GCP stand-in, all on 127.0.0.1.

    \b
    deployer --config-dir examples/local platform up    start (builds the binaries on first use)
    deployer platform status                             pids, ports, endpoints, kubeconfigs
    deployer platform down                               stop everything
    """


@platform.command()
@state_dir_option
@click.pass_context
def prepare(ctx: click.Context, state_dir: Path | None) -> int:
    """Install the Debian packages and build the pinned binaries; start nothing.

    A cold build takes several minutes on 2 cores; later runs find everything in the cache.
    """
    from deployer_localplatform.platform import Platform

    binaries = Platform(state_dir, progress=_progress).prepare()
    paths = {name: str(path) for name, path in binaries.paths.items()}
    emit(settings_of(ctx), {"binaries": paths},
         lambda: "\n".join(f"{name:<24} {path}" for name, path in paths.items()))
    return 0


@platform.command()
@state_dir_option
@click.option("--cluster-files/--no-cluster-files", default=True, show_default=True,
              help="Write clusters/local-onprem.yaml and clusters/local-gke.yaml into --config-dir.")
@click.option("--bench-clusters", type=click.IntRange(0, 20), default=0, show_default=True, metavar="N",
              help="Also start bench-1..N, on-prem clusters for the fan-out benchmark (about 0.3 GB each).")
@click.pass_context
def up(ctx: click.Context, state_dir: Path | None, cluster_files: bool, bench_clusters: int) -> int:
    """Start the platform, or do nothing if it already runs.

    A platform that is partly running or left stale (dead processes, old pid files), or runs
    another set of clusters, is stopped and started afresh: new etcd data, certificates and tokens.

    \b
    deployer platform up                        local-onprem and local-gke
    deployer platform up --bench-clusters 10    the same plus bench-1..bench-10 (B3 fan-out)
    """
    from deployer_localplatform.platform import Platform

    settings = settings_of(ctx)
    config_dir = settings.config_dir if cluster_files else None
    info = Platform(state_dir, config_dir=config_dir, progress=_progress,
                    extra_bench_clusters=bench_clusters).up()
    data = info.to_dict()

    def text() -> str:
        lines = [f"state      {info.state_dir}", f"registry   {info.registry} (plain http)",
                 f"gcp        {info.gcp_url}"]
        for c in info.clusters.values():
            lines.append(f"{c.name:<13} {c.server}  kubeconfig {c.admin_kubeconfig}")
            if c.cluster_file:
                lines.append(f"{'':<13} cluster file {c.cluster_file}")
        return "\n".join(lines)

    emit(settings, data, text)
    return 0


@platform.command()
@state_dir_option
@click.pass_context
def down(ctx: click.Context, state_dir: Path | None) -> int:
    """Stop every platform process (whole process groups) and check that none is left."""
    from deployer_localplatform.platform import Platform

    stopped = Platform(state_dir, progress=_progress).down()
    emit(settings_of(ctx), {"stopped": stopped},
         lambda: f"stopped {len(stopped)} processes: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


@platform.command()
@state_dir_option
@click.pass_context
def status(ctx: click.Context, state_dir: Path | None) -> int:
    """Show each component (pid, alive, port, endpoint, memory) and the clusters' kubeconfigs."""
    from deployer_localplatform.platform import Platform

    st = Platform(state_dir).status()
    data = {
        "stateDir": str(st.state_dir), "running": st.running,
        "components": [{"name": c.name, "pid": c.pid, "alive": c.alive, "port": c.port,
                        "endpoint": c.endpoint, "log": str(c.log), "rssBytes": c.rss_bytes}
                       for c in st.components],
        "platform": st.info.to_dict() if st.info else None,
    }

    def text() -> str:
        if not st.components:
            return f"not running (state {st.state_dir}); start it with `deployer platform up`"
        rows = [[c.name, str(c.pid or "-"), "yes" if c.alive else "NO", str(c.port or "-"),
                 c.endpoint or "-", f"{c.rss_bytes / 2**20:.0f} MiB" if c.alive else "-"]
                for c in st.components]
        out = [table(rows, ["component", "pid", "alive", "port", "endpoint", "rss"])]
        if st.info:
            out.append("")
            out += [f"{c.name:<13} {c.server}  kubeconfig {c.admin_kubeconfig}" for c in st.info.clusters.values()]
            out.append(f"registry      {st.info.registry} (plain http)")
        state = "running" if st.running else "NOT fully running: `deployer platform up` restarts it"
        out.append(f"\n{state} (state {st.state_dir}; logs in {st.state_dir / 'logs'})")
        return "\n".join(out)

    emit(settings_of(ctx), data, text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`deployer-platform ARGS` is `deployer platform ARGS`; deployer's global options may lead."""
    args = list(sys.argv[1:] if argv is None else argv)
    split = _global_options_end(args)
    return deployer_main([*args[:split], "platform", *args[split:]])


def _global_options_end(args: list[str]) -> int:
    """Where deployer's own leading options (--output json, --config-dir DIR, ...) end in ``args``."""
    takes_value = {name: not (param.is_flag or param.count) for param in deployer_cli.params
                   if isinstance(param, click.Option) for name in param.opts}
    i = 0
    while i < len(args):
        name, joined, _ = args[i].partition("=")
        if name not in takes_value:
            break
        i += 2 if takes_value[name] and not joined else 1
    return min(i, len(args))


def entry() -> None:
    sys.exit(main())
