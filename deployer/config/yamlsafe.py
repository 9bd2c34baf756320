"""Safe YAML reading that remembers where every value came from.

PyYAML's SafeLoader already refuses arbitrary Python objects. On top of it this loader refuses
what a configuration file never needs and an attacker or a slip could use: duplicate keys (the
later one silently wins in plain PyYAML), anchors and aliases (alias bombs), more than one
document, and oversized files. It returns the data together with a map from each value's path
(``("access", 0, "role")``) to its line and column, so model errors can name the line.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import ConfigProblem

MAX_FILE_BYTES = 1024 * 1024
# Deeper nesting than any configuration needs; PyYAML composes recursively, so without a limit a
# few kilobytes of brackets end in a RecursionError instead of a located problem.
MAX_DEPTH = 64
# Python refuses to build integers of more than 4300 digits (a ValueError with no location); no
# configuration value needs more than a few dozen.
MAX_INTEGER_DIGITS = 64
# Characters YAML does not allow in a stream (YAML 1.1, 5.1): C0 controls but tab, LF and CR; DEL;
# C1 controls but NEL; surrogates; U+FFFE/U+FFFF.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_INT_TAG = "tag:yaml.org,2002:int"
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Positioned:
    data: Any
    positions: dict[Path_, tuple[int, int]]  # path -> (line, column), both 1-based

    def position(self, path: Path_) -> tuple[int | None, int | None]:
        """The line of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return (None, None)


class _Problem(Exception):
    def __init__(self, mark: yaml.Mark | None, message: str, field: str = "") -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.field = field


class _Checks:
    """The composer hooks both loaders share: they run on every node as it is composed."""

    _depth = 0

    # ``self`` is a whole loader (a composer over a parser); this mixin alone has no events.
    def compose_node(self: Any, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise _Problem(event.start_mark, f"values nest deeper than {MAX_DEPTH} levels")
            return self._compose_checked(parent, index)
        finally:
            self._depth -= 1

    def _compose_checked(self: Any, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Problem(event.start_mark, "YAML aliases (*name) are not allowed in deployer files")
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Problem(event.start_mark, "YAML anchors (&name) are not allowed in deployer files")
        return yaml.composer.Composer.compose_node(self, parent, index)


class _Loader(_Checks, yaml.SafeLoader):
    """PyYAML's pure-Python reader, scanner and parser: slow, and the messages users see."""


_CParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None)


_FastLoader: type[Any] = _Loader  # PyYAML built without libyaml
if _CParser is not None:
    class _LibyamlLoader(_Checks, yaml.composer.Composer, _CParser,  # type: ignore[misc]
                          yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's scanner and parser (about 6x faster on a 99-namespace cluster file) under the
        same Python composer and checks: libyaml's own composer is recursive C with no depth
        limit and drops anchors, so composing stays here. libyaml words its errors differently,
        so a file it refuses is parsed again by ``_Loader`` for the message users know."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _FastLoader = _LibyamlLoader


def duplicate_key(node: yaml.MappingNode) -> tuple[yaml.Node, yaml.Node] | None:
    """The first key of ``node`` written twice, as (first, again), or None. PyYAML silently keeps
    the later value; every reader of deployer's files (configuration and rendered manifests) refuses
    instead. Keys are compared by their text (they are plain scalars in both)."""
    seen: dict[Any, yaml.Node] = {}
    for key_node, _value in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
        if key in seen:
            return seen[key], key_node
        seen[key] = key_node
    return None


def _walk(node: yaml.Node, path: Path_, positions: dict[Path_, tuple[int, int]]) -> None:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Problem(key_node.start_mark, "keys must be plain strings", _dotted(path))
        twice = duplicate_key(node)
        if twice is not None:
            first, again = twice
            raise _Problem(again.start_mark, f"duplicate key {again.value!r} (first defined on line "
                                             f"{first.start_mark.line + 1})", _dotted(path + (again.value,)))
        for key_node, value_node in node.value:
            key = key_node.value
            # The key's own line is the most useful place to point at for a bad value.
            _walk(value_node, path + (key,), positions)
            positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), positions)
    elif node.tag == _INT_TAG and sum(c.isdigit() for c in node.value) > MAX_INTEGER_DIGITS:
        raise _Problem(node.start_mark, f"a number of more than {MAX_INTEGER_DIGITS} digits", _dotted(path))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def load_yaml(path: Path, display: str | None = None) -> Positioned:
    """Parse one YAML file; raises ``ConfigFileError`` with a located problem."""
    shown = display or str(path)
    return parse_yaml(read_text(path, shown), shown)


def read_text(path: Path, shown: str) -> str:
    """The text of a configuration file, refused when unreadable, too large or not UTF-8."""
    def refused(message: str) -> ConfigFileError:
        return ConfigFileError(ConfigProblem(shown, None, None, "", message))

    try:
        info = path.stat()
        # A device or a pipe (a link to /dev/zero, a FIFO) has no size to check and may never end:
        # only a regular file is read.
        if not stat.S_ISREG(info.st_mode):
            raise refused("not a regular file (a folder, device or pipe); a configuration file is a YAML file")
        if info.st_size > MAX_FILE_BYTES:
            raise refused(f"file is {info.st_size} bytes; the limit is {MAX_FILE_BYTES}")
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # a file that grew since stat is still bounded
    except OSError as exc:
        raise refused(f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise refused(f"file is over {MAX_FILE_BYTES} bytes, the limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refused("file is not UTF-8 text") from exc
    # Universal newlines, as reading in text mode gives them: a file saved on Windows has the
    # same lines and columns.
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _unprintable(text: str, shown: str) -> ConfigFileError | None:
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    return ConfigFileError(ConfigProblem(shown, line, column, "",
                                         f"control character U+{ord(found.group()):04X} is not allowed in YAML"))


def parse_yaml(text: str, shown: str) -> Positioned:
    bad = _unprintable(text, shown)
    if bad is not None:
        raise bad
    try:
        return _parse(text, shown, _FastLoader)
    except _SyntaxRefused:
        return _parse(text, shown, _Loader)


class _SyntaxRefused(Exception):
    """libyaml refused the text: PyYAML's parser says why, in the words users know."""


def _parse(text: str, shown: str, loader_class: Any) -> Positioned:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigFileError(ConfigProblem(shown, 1, 1, "", "file is empty"))
        positions: dict[Path_, tuple[int, int]] = {}
        _walk(node, (), positions)
        data = loader.construct_document(node)
    except _Problem as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (None, None)
        raise ConfigFileError(ConfigProblem(shown, line, col, exc.field, exc.message)) from None
    except yaml.YAMLError as exc:
        if loader_class is not _Loader:
            raise _SyntaxRefused() from None
        raise _refusal(exc, shown) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigFileError(ConfigProblem(shown, 1, 1, "", "the file must be a mapping of keys to values"))
    return Positioned(data, positions)


def _refusal(exc: yaml.YAMLError, shown: str) -> ConfigFileError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            message += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        if "expected a single document" in (exc.context or ""):
            message = "only one YAML document is allowed per file"
        return ConfigFileError(ConfigProblem(shown, line, col, "", f"invalid YAML: {message}"))
    return ConfigFileError(ConfigProblem(shown, None, None, "", f"invalid YAML: {exc}"))


class ConfigFileError(Exception):
    """Internal: one file could not be parsed. The loader gathers these into a ConfigError."""

    def __init__(self, problem: ConfigProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem
