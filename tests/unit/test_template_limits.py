"""A template cannot hold a run for minutes or exhaust memory with one expression, and a macro that
calls itself is a problem in the template, not a crash: each is refused naming the template."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deployer.errors import ConfigError
from deployer.pipeline.report import ClusterReport
from deployer.pipeline.steps import timed
from deployer.render.templates import render_templates

HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: limits\n  namespace: apps\ndata:\n"


def _problems(tmp_path: Path, body: str) -> list[str]:
    (tmp_path / "cm.yaml.j2").write_text(HEAD + body)
    with pytest.raises(ConfigError) as caught:
        render_templates(tmp_path, {})
    return [f"{p.file}:{p.line}: {p.message}" for p in caught.value.problems]


@pytest.mark.parametrize("expression, words", [
    ("9 ** 9999999", "9 ** 9999999 has more than 4096 bits"),
    ("'x' * 100000000", "repeating a str of length 1 100000000 times"),
    ("[1, 2] * 10000000", "repeating a list of length 2 10000000 times"),
])
def test_an_expression_far_beyond_any_kubernetes_value_is_refused_before_it_is_computed(
        tmp_path: Path, expression: str, words: str) -> None:
    started = time.process_time()
    problems = _problems(tmp_path, f"  a: {{{{ {expression} }}}}\n")
    assert len(problems) == 1 and f"cm.yaml.j2:7: refused: {words}" in problems[0], problems
    assert time.process_time() - started < 5  # computing 9 ** 9999999 first takes about 20 s of CPU


def test_ordinary_arithmetic_still_renders(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml.j2").write_text(HEAD + "  a: {{ (2 ** 62) | string }}\n  b: {{ '-' * 3 }}\n"
                                                "  c: {{ ([1] * 3) | length | string }}\n")
    assert render_templates(tmp_path, {})[0]["data"] == {"a": str(2 ** 62), "b": "---", "c": "3"}


def test_a_macro_calling_itself_is_a_template_problem(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n  a: {{ f(1) }}\n")
    assert len(problems) == 1 and problems[0].endswith(
        "cm.yaml.j2:None: a macro or include calls itself without end (Python's recursion limit was reached)")


def test_a_step_that_breaks_with_a_bug_still_names_itself_in_the_report() -> None:
    report = ClusterReport("dc1")

    def broken() -> str:
        raise RuntimeError("unexpected shape")

    with pytest.raises(RuntimeError):
        timed(report, "render", broken, time.monotonic)
    assert [(s.name, s.status, s.message) for s in report.steps] == [
        ("render", "failed", "internal error: RuntimeError: unexpected shape")]
