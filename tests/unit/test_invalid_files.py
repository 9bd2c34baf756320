"""Every file in tests/data/invalid is refused with the invalid-config code, naming file, line and
field, and never with a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

INVALID = sorted((Path(__file__).parent.parent / "data" / "invalid").glob("*/*.yaml"))


def _expectation(path: Path) -> tuple[int, str, str]:
    first = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# expect: (\d+) (\S+) (.+)", first)
    assert match, f"{path} lacks its '# expect: LINE FIELD TEXT' header"
    return int(match.group(1)), match.group(2), match.group(3)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_invalid_file_is_refused_with_location(cli, path: Path) -> None:
    line, field, text = _expectation(path)
    rel = path.relative_to(Path.cwd())
    result = cli("validate", str(rel))
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    problem = next(ln.strip() for ln in result.stderr.splitlines() if ln.strip().startswith(str(rel)))
    assert problem.startswith(f"{rel}:{line}:"), problem
    if field != "-":
        assert f" {field}:" in problem, problem
    for word in text.split():
        assert word.lower() in problem.lower(), (word, problem)


def test_invalid_files_as_json_list_every_problem(cli) -> None:
    paths = [str(p.relative_to(Path.cwd())) for p in INVALID]
    result = cli("--output", "json", "validate", *paths)
    assert result.exit_code == 3
    problems = result.json()["problems"]
    assert {p["file"] for p in problems} == set(paths)
    assert all(p["line"] for p in problems)


def test_secret_value_is_not_repeated(cli) -> None:
    result = cli("validate", "tests/data/invalid/clusters/secret-value.yaml")
    assert result.exit_code == 3
    assert "s3cr3t" not in result.stderr + result.stdout


def test_inline_private_key_is_refused_without_repeating_it(cli, tmp_path) -> None:
    # Made at run time so no file in the repository carries a private-key header.
    header = "-----BEGIN RSA " + "PRIVATE KEY-----"
    folder = tmp_path / "clusters"
    folder.mkdir()
    path = folder / "private-key-inline.yaml"
    path.write_text("name: private-key-inline\nprovider: onprem\nenvironment: staging\n"
                    "server: https://10.0.0.1:6443\nca:\n  inline: |\n"
                    f"    {header}\n    not-a-real-key-only-its-shape\n    -----END RSA PRIVATE KEY-----\n"
                    "credential: {type: token, env: DC1_TOKEN}\nregistry: registry.example.internal/x\n")
    result = cli("validate", str(path))
    assert result.exit_code == 3
    problem = next(ln.strip() for ln in result.stderr.splitlines() if str(path) in ln)
    assert problem.startswith(f"{path}:6:") and " ca.inline: " in problem and "private key" in problem
    assert "not-a-real-key" not in result.stderr + result.stdout
