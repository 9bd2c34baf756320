"""The render cache (deployer/render/cache.py): a render whose inputs are unchanged is served
without jinja2, anything that changes the output changes the key, and every check after the
parse still runs on what the cache serves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.config.models import Cluster
from deployer.errors import ConfigError
from deployer.render import cache as render_cache
from deployer.render import load_chart, render_chart, render_templates
from deployer.render import templates as render_templates_module
from tests.unit.test_render import CONFIGMAP, ONPREM, REPO, write


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def jinja_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Counts the renders that really ran jinja2."""
    calls: list[Path] = []
    real = render_templates_module._environment

    def counted(folder: Path):  # type: ignore[no-untyped-def]
        calls.append(folder)
        return real(folder)

    monkeypatch.setattr(render_templates_module, "_environment", counted)
    return calls


def _folder(tmp_path: Path, template: str = CONFIGMAP) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    return write(folder, {"t.yaml.j2": template})


def test_an_unchanged_render_is_served_from_the_cache_with_the_same_objects(tmp_path, jinja_calls) -> None:
    folder = _folder(tmp_path)
    first = render_templates(folder, {"name": "cm", "namespace": "ns", "value": "v"})
    again = render_templates(folder, {"name": "cm", "namespace": "ns", "value": "v"})
    assert again == first and len(jinja_calls) == 1
    again[0]["metadata"]["name"] = "edited"  # a caller's edit never reaches the next run's objects
    assert render_templates(folder, {"name": "cm", "namespace": "ns", "value": "v"}) == first


@pytest.mark.parametrize("change", ["context value", "template", "helper", "value type"])
def test_anything_the_output_depends_on_renders_again(tmp_path, jinja_calls, change) -> None:
    folder = _folder(tmp_path, "{% import '_h.j2' as h %}\n" + CONFIGMAP.replace("{{ value }}", "{{ h.v(value) }}"))
    write(folder, {"_h.j2": "{% macro v(x) %}{{ x }}{% endmacro %}"})
    context = {"name": "cm", "namespace": "ns", "value": "1"}
    render_templates(folder, context)
    if change == "context value":
        context["value"] = "2"
    elif change == "template":
        write(folder, {"t.yaml.j2": (folder / "t.yaml.j2").read_text().replace("kind: ConfigMap",
                                                                                "kind: ConfigMap\n# edited")})
    elif change == "helper":
        write(folder, {"_h.j2": "{% macro v(x) %}{{ x ~ '-h' }}{% endmacro %}"})
    else:
        context["value"] = 1  # an int, not the string "1"
    render_templates(folder, context)
    assert len(jinja_calls) == 2


def test_a_cluster_model_is_keyed_by_its_fields(tmp_path, jinja_calls) -> None:
    chart = load_chart(REPO / "charts" / "cluster-base")
    first = render_chart(Cluster.model_validate(ONPREM), chart)
    assert render_chart(Cluster.model_validate(ONPREM), chart) == first and len(jinja_calls) == 1
    changed = {**ONPREM, "values": {"resourceQuota": {"cpu": "3", "memory": "1Gi"}}}
    assert render_chart(Cluster.model_validate(changed), chart) != first
    assert len(jinja_calls) == 2


def test_a_context_it_cannot_key_exactly_is_not_cached(tmp_path, jinja_calls) -> None:
    folder = _folder(tmp_path)
    # A mapping keyed by numbers: 1 and "1" must not share a key, so it is not keyed at all.
    context = {"name": "cm", "namespace": "ns", "value": "v", "lookup": {1: "one"}}
    assert render_cache.render_key(folder, [folder / "t.yaml.j2"], context, frozenset()) is None
    render_templates(folder, context)
    render_templates(folder, context)
    assert len(jinja_calls) == 2


def test_dataclasses_in_the_context_are_keyed_by_value(tmp_path) -> None:
    @dataclass(frozen=True)
    class Image:
        reference: str

    folder = _folder(tmp_path)
    templates = [folder / "t.yaml.j2"]
    key = lambda ref: render_cache.render_key(folder, templates, {"image": Image(ref)}, frozenset())  # noqa: E731
    assert key("a") == key("a") != key("b")


def test_checks_after_the_parse_run_on_a_cached_render(tmp_path, jinja_calls) -> None:
    folder = _folder(tmp_path, CONFIGMAP.replace("  namespace: {{ namespace }}\n", ""))
    seen: list[str] = []

    def place(doc):  # type: ignore[no-untyped-def]
        seen.append(doc["metadata"]["name"])
        doc["metadata"]["namespace"] = "placed"
        return doc

    context = {"name": "cm", "value": "v"}
    render_templates(folder, context, prepare=place)
    render_templates(folder, context, prepare=place)
    assert seen == ["cm", "cm"] and len(jinja_calls) == 1
    with pytest.raises(ConfigError, match="namespace"):  # the object check refuses it, cached or not
        render_templates(folder, context)
    assert len(jinja_calls) == 1


def test_a_failed_render_is_not_cached(tmp_path, jinja_calls) -> None:
    folder = _folder(tmp_path)
    for _ in range(2):
        with pytest.raises(ConfigError, match="undefined"):
            render_templates(folder, {"name": "cm", "namespace": "ns"})
    assert len(jinja_calls) == 2


def test_a_damaged_or_foreign_entry_is_a_miss(tmp_path, cache_home, jinja_calls) -> None:
    folder = _folder(tmp_path)
    context = {"name": "cm", "namespace": "ns", "value": "v"}
    first = render_templates(folder, context)
    (entry,) = (cache_home / "deployer" / "render").iterdir()
    entry.write_bytes(b"\x00garbage")
    assert render_templates(folder, context) == first and len(jinja_calls) == 2
    import marshal

    entry.write_bytes(marshal.dumps(("another key", [[{"kind": "Injected"}]])))
    assert render_templates(folder, context) == first and len(jinja_calls) == 3


def test_the_cache_keeps_a_bounded_number_of_entries(tmp_path, cache_home, monkeypatch) -> None:
    from deployer import localcache

    monkeypatch.setattr(localcache, "MAX_ENTRIES", 3)
    folder = _folder(tmp_path)
    for i in range(6):
        render_templates(folder, {"name": f"cm{i}", "namespace": "ns", "value": "v"})
    assert len(list((cache_home / "deployer" / "render").iterdir())) == 3
