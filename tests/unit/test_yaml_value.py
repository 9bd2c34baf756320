"""Value emission: what has no YAML scalar form is refused, naming where in the value it sits."""

from __future__ import annotations

import pytest

from deployer.render.yamlvalue import UnsafeValue, yaml_value


@pytest.mark.parametrize(("value", "message"), [
    (float("inf"), "the value is inf, which has no YAML form deployer emits"),
    (float("-inf"), "the value is -inf, which has no YAML form deployer emits"),
    ({"a": [1.5, float("nan")]}, "the value.a[1] is nan, which has no YAML form deployer emits"),
    ({"a": {1: "x"}}, "the value.a has a non-string key 1; YAML keys here are strings"),
    ({"a": [b"bytes"]}, "a bytes object cannot be emitted as a YAML value; "
                        "emit one of its fields (for example ns.name) instead"),
])
def test_values_without_a_yaml_form_are_refused_by_path(value, message):
    with pytest.raises(UnsafeValue) as caught:
        yaml_value(value)
    assert str(caught.value) == message


def test_finite_floats_and_non_ascii_text_are_emitted_as_they_are():
    assert yaml_value(1.5) == "1.5"
    assert yaml_value("zürich ✓") == '"zürich ✓"'
    assert yaml_value(["a", 1, None, True]) == '["a", 1, null, true]'


def test_line_breaks_yaml_folds_are_escaped():
    assert yaml_value("a\u2028b\u0085c\ufeff") == '"a\\u2028b\\u0085c\\ufeff"'
