from __future__ import annotations

from pathlib import Path

import pytest

from deployer.config.yamlsafe import MAX_FILE_BYTES, ConfigFileError, load_yaml, parse_yaml


def test_positions_point_at_keys_and_items() -> None:
    doc = parse_yaml("a: 1\nlist:\n  - x: 2\n  - y: 3\n", "f.yaml")
    assert doc.position(("a",)) == (1, 1)
    assert doc.position(("list", 1, "y")) == (4, 5)
    # unknown deeper paths fall back to the nearest known ancestor
    assert doc.position(("list", 1, "y", "deeper")) == (4, 5)


@pytest.mark.parametrize("text, message", [
    ("a: 1\na: 2\n", "duplicate key 'a' (first defined on line 1)"),
    ("a: &x 1\nb: *x\n", "anchors"),
    ("a: 1\n---\nb: 2\n", "only one YAML document"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("", "file is empty"),
    ("a: !!python/object:os.system x\n", "invalid YAML"),
    ("{1: 2}\n", None),
])
def test_refused_yaml(text: str, message: str | None) -> None:
    if message is None:  # non-string keys are allowed by YAML; we still parse, the models refuse
        parse_yaml(text, "f.yaml")
        return
    with pytest.raises(ConfigFileError) as caught:
        parse_yaml(text, "f.yaml")
    assert message in caught.value.problem.message
    assert caught.value.problem.file == "f.yaml"


def test_alias_bomb_is_refused_before_expansion() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    with pytest.raises(ConfigFileError) as caught:
        parse_yaml(bomb, "bomb.yaml")
    assert caught.value.problem.line == 1


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ConfigFileError) as caught:
        load_yaml(big)
    assert "limit" in caught.value.problem.message


def test_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigFileError) as caught:
        load_yaml(bad)
    assert "UTF-8" in caught.value.problem.message


@pytest.mark.parametrize(("text", "line", "column", "field", "message"), [
    ("a: 1\nb: x\x00y\n", 2, 5, "", "control character U+0000 is not allowed"),
    ("a: 1\nb: \x1b[31m\n", 2, 4, "", "control character U+001B"),
    ("a:\n  n: " + "9" * 5000 + "\n", 2, 6, "a.n", "a number of more than 64 digits"),
    ("a:\n  n: " + "9" * 400 + "\n", 2, 6, "a.n", "a number of more than 64 digits"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1, 67, "", "values nest deeper than 64 levels"),
])
def test_hostile_input_is_a_located_problem_not_a_crash(text, line, column, field, message) -> None:
    with pytest.raises(ConfigFileError) as refused:
        parse_yaml(text, "f.yaml")
    problem = refused.value.problem
    assert (problem.file, problem.line, problem.column, problem.field) == ("f.yaml", line, column, field)
    assert message in problem.message


def test_tabs_newlines_and_unicode_text_are_fine() -> None:
    assert parse_yaml("a: \"tab\\there\"\nb: grüße ✓\r\n", "f.yaml").data == {"a": "tab\there", "b": "grüße ✓"}


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_yaml("a: " + "[" * 60 + "]" * 60 + "\n", "f.yaml").data["a"] is not None


REPO_CONFIG = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("relative", ["clusters/gke-staging.yaml", "clusters/onprem-dc1.yaml",
                                      "services/hello.yaml"])
def test_libyaml_and_pure_python_loaders_read_a_file_alike(relative: str) -> None:
    from deployer.config import yamlsafe

    if yamlsafe._FastLoader is yamlsafe._Loader:
        pytest.skip("PyYAML here has no libyaml")  # CI=true turns a skip into a failure
    text = (REPO_CONFIG / relative).read_text()
    fast = yamlsafe._parse(text, relative, yamlsafe._FastLoader)
    pure = yamlsafe._parse(text, relative, yamlsafe._Loader)
    assert fast == pure and len(fast.positions) > 10


@pytest.mark.parametrize("text", ["a: b: c\n", "a: [1, 2\n", "- a\n- b\n---\nc: 1\n", "a: 'x\n", "\tb: 1\n"])
def test_a_file_libyaml_refuses_gets_pyyamls_words(text: str) -> None:
    """libyaml words syntax errors its own way ('mapping values are not allowed in this context');
    users and the docs know PyYAML's, so a refused file is parsed again for the message."""
    from deployer.config import yamlsafe

    with pytest.raises(ConfigFileError) as fast:
        parse_yaml(text, "f.yaml")
    with pytest.raises(ConfigFileError) as pure:
        yamlsafe._parse(text, "f.yaml", yamlsafe._Loader)
    assert str(fast.value.problem) == str(pure.value.problem)
    assert fast.value.problem.line is not None
