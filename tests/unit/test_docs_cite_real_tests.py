"""Every test file (and test function) that README.md or docs/ cites exists: a renamed test must
take its citations with it, or the docs claim a backing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CITED_FILE = re.compile(r"\btests/[\w/]+\.py\b")
# `tests/x/test_y.py` followed in the same sentence by `test_name`, or a pytest node id
# `tests/x/test_y.py::test_name` (docs/claims.md): that function must be in it.
# A name followed by ".py" is another file in a list of files, not a function.
CITED_FUNCTION = re.compile(r"(tests/[\w/]+\.py)(?:::|`?,?\s*(?:\(|`)?)(test_\w+)\b(?!\.py)")


def _citations() -> list[tuple[Path, str]]:
    return [(doc, match) for doc in DOCS for match in CITED_FILE.findall(doc.read_text())]


def test_the_docs_cite_tests_at_all():
    # The check below must have something to check: the docs do cite tests.
    assert len(_citations()) >= 3


def test_both_ways_of_citing_a_function_are_checked():
    text = ("(`tests/unit/a.py`, `test_one`) and `tests/unit/b.py::test_two` "
            "and tests/unit/c.py (the pure parts)")
    assert CITED_FUNCTION.findall(text) == [("tests/unit/a.py", "test_one"), ("tests/unit/b.py", "test_two")]


def test_every_cited_test_file_exists():
    missing = sorted({f"{doc.relative_to(REPO)} cites {path}" for doc, path in _citations()
                      if not (REPO / path).is_file()})
    assert not missing, "\n".join(missing)


def test_every_cited_test_function_exists_in_its_file():
    missing = []
    for doc in DOCS:
        for path, function in CITED_FUNCTION.findall(doc.read_text()):
            source = REPO / path
            if source.is_file() and not re.search(rf"^\s*(?:async )?def {function}\b", source.read_text(), re.M):
                missing.append(f"{doc.relative_to(REPO)} cites {path}::{function}")
    assert not missing, "\n".join(missing)
