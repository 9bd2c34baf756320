"""Validated configuration files served from the per-user cache (deployer/config/filecache.py):
only for the very text a run validated, never for a file with a problem, never from a folder
someone else may write to."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployer import localcache
from deployer.config import loader
from deployer.config.loader import load_config
from deployer.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    for folder in ("clusters", "services", "charts"):
        shutil.copytree(REPO / folder, root / folder, symlinks=True)
    return root


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = loader.validate_document

    def counted(model, doc, shown):  # type: ignore[no-untyped-def]
        seen.append(shown)
        return real(model, doc, shown)

    monkeypatch.setattr(loader, "validate_document", counted)
    return seen


def test_an_unchanged_folder_is_validated_once(config: Path, cache_home: Path, validations: list[str]) -> None:
    first = load_config(config)
    assert len(validations) == len(first.clusters) + len(first.services) > 2
    validations.clear()
    again = load_config(config)
    assert validations == []
    assert again.clusters == first.clusters and again.services == first.services
    assert (cache_home / "deployer" / "config").stat().st_mode & 0o077 == 0


def test_an_edited_file_is_validated_again_and_its_problem_reported_every_time(
        config: Path, cache_home: Path, validations: list[str]) -> None:
    load_config(config)
    validations.clear()
    path = config / "clusters" / "onprem-dc1.yaml"
    path.write_text(path.read_text().replace("environment: ", "environment: Not A Name #", 1))
    for _ in range(2):
        with pytest.raises(ConfigError, match="onprem-dc1.yaml:.*environment"):
            load_config(config)
        assert [shown for shown in validations if shown.endswith("onprem-dc1.yaml")], validations
        validations.clear()


def test_a_cache_folder_others_may_write_to_is_not_read(config: Path, cache_home: Path,
                                                        validations: list[str]) -> None:
    load_config(config)
    folder = cache_home / "deployer" / "config"
    folder.chmod(0o777)
    validations.clear()
    load_config(config)
    assert validations  # validated again, not served from a folder anyone could have filled
    assert not localcache.private(folder)


def test_a_damaged_entry_is_a_miss(config: Path, cache_home: Path, validations: list[str]) -> None:
    load_config(config)
    for entry in (cache_home / "deployer" / "config").iterdir():
        entry.write_bytes(b"\x80\x05not a pickle")
    validations.clear()
    assert load_config(config).clusters
    assert validations
