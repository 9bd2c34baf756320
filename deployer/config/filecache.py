"""Validated configuration files kept by a hash of their text (issue 13).

A no-change run spent most of its own CPU on pydantic: building the models' validators (a
quarter of a second, every process) to validate files that had not changed since the last run.
The models are built on first use (``defer_build``), and a file whose text, model and deployer
code are the same as at a run that validated it is served that run's result: the model and its
positions. Validation is a pure function of those, so nothing is skipped that could come out
differently. Only files that validated are kept; a file with a problem is validated (and its
problem reported) every time. The checks across files (a service's clusters and namespaces, CA
files that must exist, API servers named twice) are not per file and run on every load.

Entries are pickles of deployer's own models in ``deployer.localcache``'s ``config`` folder,
read only from a folder private to this user. A missing, damaged or foreign entry is a miss.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from typing import Any, TypeVar

from pydantic.version import VERSION as PYDANTIC_VERSION

from deployer import localcache
from deployer.config.yamlsafe import Positioned

# Bump when what an entry holds changes shape.
_FORMAT = "config-cache-1"
_KIND = "config"
Model = TypeVar("Model")


def key_of(model: type[Any], text: str) -> str:
    digest = hashlib.sha256(f"{_FORMAT}\0{sys.version}\0{PYDANTIC_VERSION}\0{localcache.code_stamp()}\0"
                            f"{model.__module__}.{model.__qualname__}\0".encode())
    digest.update(text.encode())
    return digest.hexdigest()


def load(key: str, model: type[Model]) -> tuple[Model, Positioned] | None:
    payload = localcache.read(_KIND, key)
    if payload is None:
        return None
    try:
        data = pickle.loads(payload)
    except Exception:  # noqa: BLE001 - a damaged entry (or one of older code) is a miss, whatever it raises
        return None
    if not (isinstance(data, tuple) and len(data) == 3 and data[0] == key and isinstance(data[1], model)
            and isinstance(data[2], Positioned)):
        return None
    return data[1], data[2]


def store(key: str, item: Any, doc: Positioned) -> None:
    try:
        payload = pickle.dumps((key, item, doc), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return  # not kept; the next run validates again
    localcache.write(_KIND, key, payload)
