"""The console script's first step: ``deployer --help`` answered from a cache, without click.

Importing click costs about 130 million instructions (its ``core`` pulls in ``inspect``, ``uuid``,
``platform``, ``datetime``, ``gettext``), more than half of what ``deployer --help`` cost in all
and the reason it missed issue 13's 150 ms budget. The top-level help is the same text every time
until deployer, a plugin, the terminal width or the language changes, so the first ``--help``
renders it through click as before and keeps it under ``~/.cache/deployer/help/``; the next ones
print that file. The key of the cache names everything the text is made from, so a stale text is
never printed: an edited ``main.py`` or ``errors.py`` (the exit-code table), another plugin, a
plugin's module edited, another width, another language or interpreter each miss and re-render.

Every other command line goes straight to ``deployer.cli.main``. This module imports only what a
bare interpreter already has (``os``, ``sys``) until the cache misses.
"""

from __future__ import annotations

import os
import sys

HELP_FLAGS = (["--help"], ["-h"])

# What the top-level help is rendered from, besides plugins: the group and its short help
# (main.py), the exit-code table of the epilog (errors.py), and this module's own rules.
_HELP_SOURCES = ("cli/main.py", "errors.py", "cli/entry.py", "cli/plugins.py")

# click's help speaks the user's language through gettext, so the language is part of the key.
_LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


# The cyclic collector's thresholds for a command. Python's default (700 allocations) runs it about
# 190 times in a no-change sync, about 57 ms of 1 s, while the run's imports and a list of 500
# objects (tens of thousands of dicts, none of them in a cycle) are allocated. mypy raises its
# threshold to the same figures for the same reason. A collection still runs every 200,000 net
# allocations, so a long wait for a rollout keeps its memory flat. The page and its workers, which
# run for days, go back to the defaults (``keep_default_collection``).
COMMAND_GC_THRESHOLD = (200_000, 30, 30)
DEFAULT_GC_THRESHOLD = (700, 10, 10)


def keep_default_collection() -> None:
    """For a process that runs for days (the page, a worker): the interpreter's own thresholds."""
    import gc

    gc.set_threshold(*DEFAULT_GC_THRESHOLD)


def main() -> int:
    """The ``deployer`` console script."""
    args = sys.argv[1:]
    if args in HELP_FLAGS:
        return _top_level_help()
    import gc

    gc.set_threshold(*COMMAND_GC_THRESHOLD)
    from deployer.cli.main import main as full_cli

    return full_cli(args)


def entry() -> None:
    """The console script: ``main``, then an exit that skips the interpreter's teardown."""
    exit_now(main())


def exit_now(code: int) -> None:
    """Exit with ``code`` as the interpreter would, without tearing the interpreter down.

    After a no-change sync, freeing every module and object one by one took about 0.17 s, an
    eighth of the whole run (issue 13); the operating system frees the process at once. What an
    exit promises still happens first: the atexit handlers run (temporary folders, worker
    processes, log handlers) and stdout and stderr are flushed. A thread that is not a daemon
    would be waited for by a normal exit, so then the exit is the normal one.
    """
    import atexit
    import threading

    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = code or 120  # what the interpreter exits with when flushing at exit fails
    os._exit(code)


def help_cache_file() -> str:
    """Where the rendered help is kept: ``$XDG_CACHE_HOME/deployer/help`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "deployer", "help", "top-level.txt")


def terminal_columns() -> int:
    """The columns click wraps help to, found as ``shutil.get_terminal_size`` does (importing
    shutil would cost a tenth of what this module saves)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def help_cache_key() -> str:
    """One line naming every input of the top-level help text (see the module docstring)."""
    from deployer.cli.plugins import PLUGIN_GROUP, entry_points

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = [sys.version, f"columns={terminal_columns()}"]
    parts += [f"{name}={os.environ.get(name, '')}" for name in _LANGUAGE_VARIABLES]
    parts += [_stamp(os.path.join(package, source)) for source in _HELP_SOURCES]
    for plugin in entry_points(PLUGIN_GROUP):
        parts.append(f"plugin {plugin.name}={plugin.value} {_stamp(_module_file(plugin.value))}")
    return " | ".join(parts).replace("\n", " ")


def render_top_level_help() -> str:
    """The help click prints for ``deployer --help``, as a string."""
    import click

    from deployer.cli.main import cli

    context = click.Context(cli, info_name="deployer", **cli.context_settings)
    return context.get_help() + "\n"


def _top_level_help() -> int:
    key = help_cache_key()
    path = help_cache_file()
    cached = _read_cached(path, key)
    if cached is None:
        cached = render_top_level_help()
        _store(path, key, cached)
    sys.stdout.write(cached)
    sys.stdout.flush()
    return 0


def _read_cached(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            stored_key = handle.readline().rstrip("\n")
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    return text if stored_key == key else None


def _store(path: str, key: str, text: str) -> None:
    # Written whole then renamed, so a concurrent --help reads the old text or the new, never half.
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(f"{key}\n{text}")
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home only costs the next run the render


def _stamp(path: str | None) -> str:
    if path is None:
        return "unknown"
    try:
        status = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{status.st_mtime_ns}:{status.st_size}"


def _module_file(entry_point_value: str) -> str | None:
    """The source file of a plugin's command module, found without importing the module."""
    import importlib.util

    module_name = entry_point_value.partition(":")[0].strip()
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None
