"""`deployer --help` is answered from a cache without importing click, and the cached text is
always what click would print now (cli/entry.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Modules a `--help` must never import: the SDKs and libraries only commands that work need.
HEAVY = ("kubernetes", "google", "pydantic", "pydantic_core", "rich", "jinja2", "yaml", "requests", "urllib3",
         "deployer.config", "deployer.app", "deployer.pipeline", "deployer.kube")

_RUN_HELP = (
    "import sys; sys.argv = ['deployer'] + sys.argv[1:]\n"
    "from deployer.cli.entry import main\n"
    "code = main()\n"
    "sys.stdout.flush()\n"
    "print('\\nMODULES', sorted(m for m in sys.modules if m.split('.')[0] in {heavy_roots} "
    "or m in {heavy}), 'click' in sys.modules, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _help(cache: Path, *args: str, columns: str = "100") -> tuple[str, str]:
    heavy_roots = {name for name in HEAVY if "." not in name}
    code = _RUN_HELP.format(heavy_roots=heavy_roots, heavy=set(HEAVY))
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": columns}
    proc = subprocess.run([sys.executable, "-c", code, *(args or ("--help",))], capture_output=True, text=True,
                          env=env, check=True)
    return proc.stdout, proc.stderr.strip().splitlines()[-1]


def _click_help(columns: str) -> str:
    # The reference: click's own rendering through the full CLI, no cache involved.
    code = "from deployer.cli.main import main; main(['--help'])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "COLUMNS": columns}).stdout


def test_first_help_renders_through_click_without_the_heavy_modules(tmp_path: Path) -> None:
    out, modules = _help(tmp_path)
    assert modules == "MODULES [] True"  # click renders it; nothing heavier is imported
    assert out == _click_help("100")
    assert (tmp_path / "deployer" / "help" / "top-level.txt").is_file()


def test_cached_help_imports_not_even_click_and_prints_the_same_text(tmp_path: Path) -> None:
    first, _ = _help(tmp_path)
    again, modules = _help(tmp_path, "-h")
    assert modules == "MODULES [] False"
    assert again == first == _click_help("100")


def test_another_terminal_width_is_rendered_again_not_served_stale(tmp_path: Path) -> None:
    _help(tmp_path, columns="100")
    narrow, modules = _help(tmp_path, columns="60")
    assert modules.endswith("True")  # a miss: click rendered it
    assert narrow == _click_help("60") != _click_help("100")


def test_a_cache_file_with_another_key_is_never_printed(tmp_path: Path) -> None:
    cache_file = tmp_path / "deployer" / "help" / "top-level.txt"
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text("a key of an older deployer\nSTALE HELP\n")
    out, modules = _help(tmp_path)
    assert "STALE" not in out and modules.endswith("True")
    assert out == _click_help("100")


def test_an_unwritable_cache_still_prints_help(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    out, _ = _help(blocked)
    assert out == _click_help("100")


def test_other_command_lines_go_to_the_full_cli(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "deployer", "validate", "--help"], capture_output=True,
                          text=True, env=env, check=True)
    assert proc.stdout.startswith("Usage: deployer validate")
    assert not (tmp_path / "deployer").exists()
