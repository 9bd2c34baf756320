"""Plugin commands are found from entry_points.txt files on sys.path, as importlib.metadata finds
them (the first distribution of a name wins), without importing importlib.metadata."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deployer.cli.plugins import PluginEntryPoint, entry_points, parse_entry_points

GROUP = "deployer.commands"


def _dist(folder: Path, name: str, text: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "entry_points.txt").write_text(text)


def test_parse_takes_only_the_group_and_drops_extras() -> None:
    text = (
        "[console_scripts]\nplatform = other:main\n\n"
        f"[{GROUP}]\n# a comment\nplatform = deployer_localplatform.cli:platform [dev]\n"
        "extra=pkg.mod:obj.attr\n"
    )
    assert parse_entry_points(text, GROUP) == [
        PluginEntryPoint("platform", "deployer_localplatform.cli:platform"),
        PluginEntryPoint("extra", "pkg.mod:obj.attr"),
    ]


def test_first_distribution_of_a_name_on_the_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _dist(first, "my_plugin-1.0.dist-info", f"[{GROUP}]\none = first:cmd\n")
    _dist(second, "My.Plugin-2.0.dist-info", f"[{GROUP}]\none = second:cmd\n")
    _dist(second, "other-0.1.egg-info", f"[{GROUP}]\ntwo = other:cmd\n")
    found = entry_points(GROUP, [str(first), str(second), str(tmp_path / "missing")])
    assert found == [PluginEntryPoint("one", "first:cmd"), PluginEntryPoint("two", "other:cmd")]


def test_agrees_with_importlib_metadata_on_this_interpreter() -> None:
    from importlib.metadata import entry_points as reference

    expected = sorted((ep.name, ep.value.split("[")[0].strip()) for ep in reference(group=GROUP))
    assert sorted((ep.name, ep.value) for ep in entry_points(GROUP)) == expected


def test_load_resolves_module_and_attribute_path() -> None:
    assert PluginEntryPoint("x", "os.path:join").load() is __import__("os").path.join


def test_help_does_not_import_importlib_metadata() -> None:
    # importlib.metadata imports the email package: the cost the scan exists to avoid
    code = ("import sys; sys.argv = ['deployer', '--help']\n"
            "from deployer.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('importlib.metadata' in sys.modules, 'email.message' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
