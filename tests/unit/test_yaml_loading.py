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
