"""Rendering a folder of jinja2 manifest templates into Kubernetes objects.

Used for the cluster chart (``charts/cluster-base/templates``) and for service manifests
(``services/<svc>/manifests``). The pipeline, as in lightkube's codecs: render each template
with strict undefined and safe value emission, parse the output with ``yaml.safe_load_all``, then
check each object. Every problem of every template is gathered into one ``ConfigError`` naming the
template file and line, so nothing reaches a cluster from a broken template.

Template rules:
- ``*.yaml.j2`` (or ``*.yml.j2``) files are rendered in name order; files starting with ``_`` are
  helpers for ``{% import %}`` and are not rendered on their own.
- A ``{{ expr }}`` is always a whole YAML value (or key); compose strings inside the expression:
  ``name: {{ prefix ~ '-' ~ role }}``, not ``name: {{ prefix }}-{{ role }}``. Values are emitted as
  JSON (see ``yamlvalue``), so a value can never add keys or documents.
- ``{{ fail("message") }}`` stops rendering with a config error at that line, for invariants a
  chart enforces (for example "this role is only granted inside namespaces").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from deployer.config.yamlsafe import duplicate_key
from deployer.errors import ConfigError, ConfigProblem
from deployer.render import cache as render_cache
from deployer.render.objects import check_object, describe, identity

if TYPE_CHECKING:
    import jinja2

# jinja2 (and the finalizer built on it) is imported when a template is rendered, not with this
# module: a run served by the render cache never renders (issue 13: 35 ms of every run).

TEMPLATE_SUFFIXES = (".yaml.j2", ".yml.j2")
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)
_STATEMENT = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.S)
_HOLE = "\x00"


class TemplateFailure(Exception):
    """Raised by ``fail()`` inside a template."""


def _fail(message: str) -> NoReturn:
    raise TemplateFailure(str(message))


# libyaml's parser when PyYAML was built with it: rendering hundreds of objects is otherwise
# dominated by the pure-Python scanner. Both build only plain data (the safe constructor).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe loader that refuses duplicate keys (PyYAML would silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        twice = duplicate_key(node)
        if twice is not None:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {twice[1].value!r}",
                                                    twice[1].start_mark)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        # Python refuses integers of more than 4300 digits with an unlocated ValueError; the API
        # server takes 64-bit integers at most.
        if sum(c.isdigit() for c in node.value) > 64:
            raise yaml.constructor.ConstructorError(None, None, f"a number of {len(node.value)} digits is not a "
                                                    "Kubernetes value", node.start_mark)
        value: int = super().construct_yaml_int(node)
        return value

    def no_json_form(self, node: yaml.Node) -> Any:
        # What Kubernetes receives is JSON: a date, bytes or a set has no JSON form, and letting it
        # through fails later (after images were pushed) with a TypeError instead of this file's name.
        tag = "!!" + node.tag.rpartition(":")[2]
        what = (f"{node.value!r} reads as a date; quote it to send a string" if tag == "!!timestamp"
                else f"the YAML tag {tag} has no JSON form (Kubernetes objects are JSON): use a string")
        raise yaml.constructor.ConstructorError(None, None, what, node.start_mark)


for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _UniqueKeyLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _UniqueKeyLoader.no_json_form)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)
# The same reader for manifests that are not templates (deployer.sources: plain YAML, Kustomize, Helm).
ManifestLoader = _UniqueKeyLoader


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def composition_problems(source: str, shown: str) -> list[ConfigProblem]:
    """Places where ``{{ }}`` is glued to other text instead of being a whole YAML value.

    Glued output such as ``name: app-{{ x }}`` would put JSON quotes inside a plain scalar: the
    value would silently change (``app-"x"``) or, with ``#`` in it, be cut short. Refusing it at
    the template keeps the rule "a value is always one scalar" checkable.
    """
    problems = []
    # Statements and comments render to nothing (trim_blocks/lstrip_blocks), so they are dropped
    # before looking at what surrounds each expression.
    holed = _STATEMENT.sub(lambda m: "\n" * m.group().count("\n"), source)
    holed = _EXPRESSION.sub(lambda m: _HOLE + "\n" * m.group().count("\n"), holed)
    for lineno, line in enumerate(holed.split("\n"), start=1):
        start = 0
        while (i := line.find(_HOLE, start)) >= 0:
            start = i + 1
            before, after = line[:i], line[i + 1:].lstrip(" ")
            stripped = before.rstrip(" ")
            spaced = before != stripped or not before
            ok_before = (not stripped or before.endswith(("[", "{"))
                         or (spaced and stripped.endswith((":", "-", ","))))
            ok_after = (not after or after.startswith(("#", ",", "]", "}", _HOLE))
                        or after == ":" or after.startswith(": "))
            if after.startswith(_HOLE):
                ok_after = False
            if not (ok_before and ok_after):
                problems.append(ConfigProblem(
                    shown, lineno, i + 1, "",
                    "a {{ }} expression must be a whole YAML value or key; build the string inside "
                    "it, e.g. {{ a ~ '-' ~ b }} instead of {{ a }}-{{ b }}"))
                break  # one report per line is enough to find it
    return problems


# What one ``**`` or ``*`` in a template may produce. Kubernetes takes 64-bit integers and objects
# of about 1.5 MB at most; an operation far beyond that is a mistake (or a loop), and computing it
# first would hold the run for minutes (``9 ** 9999999``) or exhaust memory (``"x" * 10 ** 10``).
MAX_POWER_BITS = 4096
MAX_REPEAT_LENGTH = 1_000_000


def _bounded_binop(operator: str, left: Any, right: Any) -> str | None:
    """Why ``left operator right`` is refused before it is computed, or None to compute it."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
        if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > MAX_POWER_BITS:
            return f"{left} ** {right} has more than {MAX_POWER_BITS} bits: no Kubernetes value is that large"
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                if len(seq) * count > MAX_REPEAT_LENGTH:
                    return (f"repeating a {type(seq).__name__} of length {len(seq)} {count} times makes more than "
                            f"{MAX_REPEAT_LENGTH} items: no Kubernetes object is that large")
    return None


def _environment(folder: Path) -> jinja2.Environment:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from deployer.render.yamlvalue import yaml_value

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"**", "*"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            refused = _bounded_binop(operator, left, right)
            if refused is not None:
                raise TemplateFailure(refused)
            return super().call_binop(context, operator, left, right)

    # Sandboxed: templates get data, not a way into Python objects' internals.
    env = Bounded(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        finalize=yaml_value,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fail"] = _fail
    return env


def _template_line(exc: BaseException, folder: Path) -> tuple[str | None, int | None]:
    """The innermost template frame of a runtime error: jinja2 rewrites tracebacks so that
    template frames carry the template's file name and line."""
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    root = str(folder.resolve())
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root) and filename.endswith((".j2", ".jinja", ".jinja2")):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _as_is(doc: Any) -> Any:
    return doc


def _render_one(env: jinja2.Environment, folder: Path, path: Path, context: dict[str, Any]
                ) -> tuple[list[Any], list[ConfigProblem]]:
    """The YAML documents one template renders to, unchecked, or the problems that stopped it."""
    import jinja2

    from deployer.render.yamlvalue import UnsafeValue

    shown = _display(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [ConfigProblem(shown, None, None, "", f"cannot read template: {exc}")]
    problems = composition_problems(source, shown)
    if problems:
        return [], problems
    try:
        text = env.get_template(path.relative_to(folder).as_posix()).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = _display(Path(exc.filename)) if exc.filename else shown
        return [], [ConfigProblem(where, exc.lineno, None, "", f"template syntax: {exc.message}")]
    except RecursionError:
        # A macro that calls itself without end; its frames are too many to walk for a line.
        return [], [ConfigProblem(shown, None, None, "", "a macro or include calls itself without end "
                                                          "(Python's recursion limit was reached)")]
    except (jinja2.UndefinedError, UnsafeValue, TemplateFailure, jinja2.TemplateError,
            TypeError, ValueError, ArithmeticError, LookupError) as exc:
        filename, line = _template_line(exc, folder)
        where = _display(Path(filename)) if filename else shown
        what = {jinja2.UndefinedError: "undefined value", TemplateFailure: "refused"}.get(type(exc), "error")
        return [], [ConfigProblem(where, line, None, "", f"{what}: {exc}")]
    try:
        return list(yaml.load_all(text, Loader=_UniqueKeyLoader)), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        rendered = text.split("\n")[line - 1].strip() if line else ""
        # The template's own line, when the output line is literal text found once in it.
        same = [i for i, source_line in enumerate(source.split("\n"), start=1)
                if rendered and source_line.strip() == rendered]
        return [], [ConfigProblem(shown, same[0] if len(same) == 1 else None, None,
                                  _field_at(text, mark) if mark else "",
                                  f"renders invalid YAML at output line {line}: {exc.problem} "
                                  f"(output line: {rendered[:120]!r})")]


def _checked(documents: list[Any], path: Path, prepare: Callable[[Any], Any], cluster_scoped: frozenset[str]
             ) -> tuple[list[dict[str, Any]], list[ConfigProblem]]:
    shown = _display(path)
    objects, problems = [], []
    for index, doc in enumerate(documents, start=1):
        if doc is None:  # an empty document, e.g. a {% for %} over nothing
            continue
        doc = prepare(doc)
        found = check_object(doc, f"{shown} (document {index}{': ' + describe(doc) if isinstance(doc, dict) else ''})",
                             cluster_scoped)
        if found:
            problems += found
        else:
            objects.append(doc)
    return objects, problems


def _rendered_documents(folder: Path, templates: list[Path], context: dict[str, Any],
                        cluster_scoped: frozenset[str]) -> tuple[render_cache.Documents, list[ConfigProblem]]:
    """Each template's documents, from the render cache when its inputs are unchanged."""
    key = render_cache.render_key(folder, templates, context, cluster_scoped)
    cached = render_cache.load(key) if key is not None else None
    if cached is not None and len(cached) == len(templates):
        return cached, []
    env = _environment(folder)
    documents: render_cache.Documents = []
    problems: list[ConfigProblem] = []
    for path in templates:
        rendered, found = _render_one(env, folder, path, context)
        documents.append(rendered)
        problems += found
    if key is not None and not problems:
        render_cache.store(key, documents)
    return documents, problems


def _field_at(text: str, mark: yaml.Mark) -> str:
    """The dotted path (``data.created``) of the value at ``mark`` in the rendered ``text``, found by
    composing the documents again without constructing values; "" when it cannot be told."""
    def walk(node: yaml.Node, path: str) -> str | None:
        if node.start_mark.index == mark.index:
            return path
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found = walk(value, f"{path}.{key.value}" if path else str(key.value))
                if found is not None:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found = walk(item, f"{path}[{i}]")
                if found is not None:
                    return found
        return None

    try:
        for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
            found = walk(document, "") if document is not None else None
            if found:
                return found
    except (yaml.YAMLError, RecursionError):
        pass
    return ""


def template_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(TEMPLATE_SUFFIXES)
                  and not p.name.startswith("_"))


def render_templates(folder: Path, context: dict[str, Any], prepare: Callable[[Any], Any] = _as_is,
                     cluster_scoped: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Render every template in ``folder`` with ``context``; return the checked objects in order.
    ``prepare`` sees each document before it is checked (a service's namespace defaulting);
    ``cluster_scoped`` names custom kinds to check as cluster-scoped (its allowClusterScoped).

    Raises ``ConfigError`` listing every problem of every template (file, line, what is wrong),
    including two templates rendering the same object.
    """
    folder = folder.resolve()
    if not folder.is_dir():
        raise ConfigError([ConfigProblem(_display(folder), None, None, "", "template folder does not exist")])
    templates = template_files(folder)
    documents, problems = _rendered_documents(folder, templates, context, cluster_scoped)
    objects: list[dict[str, Any]] = []
    first_seen: dict[tuple[str, str, str, str], str] = {}
    for path, template_documents in zip(templates, documents, strict=True):
        rendered, found = _checked(template_documents, path, prepare, cluster_scoped)
        problems += found
        shown = _display(path)
        for obj in rendered:
            key = identity(obj)
            if key in first_seen:
                problems.append(ConfigProblem(shown, None, None, "",
                                              f"renders {describe(obj)} again (first rendered by "
                                              f"{first_seen[key]}); each object must come from one place"))
                continue
            first_seen[key] = shown
            objects.append(obj)
    if problems:
        raise ConfigError(problems, hint="Fix the templates named above; nothing was sent to any cluster.")
    return objects
