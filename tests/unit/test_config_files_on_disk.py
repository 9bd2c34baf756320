"""What sits under clusters/ and services/ on disk: anything with a YAML name is read, or refused
by name; nothing that is not a regular file is read at all (a link to /dev/zero would never end)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from deployer.config.loader import load_config
from deployer.config.yamlsafe import load_yaml
from deployer.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "config"
    for folder in ("clusters", "services", "charts"):
        shutil.copytree(REPO / folder, root / folder, symlinks=True)
    return root


def _problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    return [f"{p.file}: {p.message}" for p in caught.value.problems]


@pytest.mark.parametrize("make", [
    pytest.param(lambda path: path.symlink_to("/dev/zero"), id="link-to-dev-zero"),
    pytest.param(lambda path: os.mkfifo(path), id="fifo"),
    pytest.param(lambda path: path.mkdir(), id="folder"),
])
def test_a_yaml_name_that_is_no_regular_file_is_refused_by_name_without_reading_it(config: Path, make) -> None:
    make(config / "clusters" / "odd.yaml")
    problems = _problems(config)
    assert len(problems) == 1 and problems[0].endswith("clusters/odd.yaml: not a regular file (a folder, device or "
                                                       "pipe); a configuration file is a YAML file"), problems


def test_a_dangling_link_is_refused_rather_than_leaving_a_cluster_out(config: Path) -> None:
    (config / "clusters" / "gone.yaml").symlink_to(config / "nowhere.yaml")
    problems = _problems(config)
    assert len(problems) == 1 and "clusters/gone.yaml: cannot read file: No such file or directory" in problems[0]


def test_an_editors_hidden_lock_file_is_not_configuration(config: Path) -> None:
    before = load_config(config)
    (config / "clusters" / ".#onprem-dc1.yaml").symlink_to("someone@host.4242")  # emacs's lock: a dangling link
    (config / "services" / ".hello.yaml").write_text("not: [valid")
    after = load_config(config)
    assert sorted(after.clusters) == sorted(before.clusters) and sorted(after.services) == sorted(before.services)


def test_windows_line_endings_give_the_same_lines_and_columns(tmp_path: Path) -> None:
    text = "name: a\nnested:\n  field: [1, 2]\n"
    (tmp_path / "unix.yaml").write_text(text)
    (tmp_path / "windows.yaml").write_bytes(text.replace("\n", "\r\n").encode())
    unix, windows = load_yaml(tmp_path / "unix.yaml"), load_yaml(tmp_path / "windows.yaml")
    assert windows.data == unix.data
    assert windows.position(("nested", "field")) == unix.position(("nested", "field")) == (3, 3)
