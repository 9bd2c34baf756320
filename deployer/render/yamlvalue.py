"""Emitting a template value as one YAML scalar that cannot change the document around it.

Every ``{{ expr }}`` in a chart or manifest template goes through ``yaml_value`` (jinja2's
``finalize`` hook). The value is JSON-encoded: JSON is YAML flow syntax, a JSON string has no raw
newline, quote or ``#`` left in it, and a JSON mapping or list is one flow node. So a value such
as ``"x\\nkind: Secret"`` or ``"---"`` stays the string it is; it can never add a key, an item or
a document. Characters YAML reads as line breaks or refuses as unprintable are escaped too, since
JSON leaves them raw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Undefined

# Everything PyYAML's reader accepts as printable, minus the Unicode line/paragraph separators and
# the byte-order mark, which YAML folds or strips inside a quoted scalar.
_NEEDS_ESCAPE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


class UnsafeValue(TypeError):
    """A template tried to emit something that has no YAML scalar form (an object, NaN, ...)."""


def _plain(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnsafeValue(f"{path} is {value}, which has no YAML form deployer emits")
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # StrictUndefined: raises UndefinedError naming it
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeValue(f"{path} has a non-string key {key!r}; YAML keys here are strings")
            out[key] = _plain(item, f"{path}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise UnsafeValue(f"a {type(value).__name__} object cannot be emitted as a YAML value; "
                      "emit one of its fields (for example ns.name) instead")


def yaml_value(value: Any) -> str:
    """The text of ``value`` as one YAML flow node (the jinja2 ``finalize`` of deployer templates)."""
    text = json.dumps(_plain(value, "the value"), ensure_ascii=False, allow_nan=False)
    return _NEEDS_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
