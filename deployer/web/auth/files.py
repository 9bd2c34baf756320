"""Reading the sign-in's own YAML files (the settings file, the groups file) the way the
configuration folder is read: safe YAML, a frozen model, every problem with file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from deployer.errors import ConfigError, UsageError

Model = TypeVar("Model", bound=BaseModel)


def read_model(path: Path, model: type[Model], what: str) -> Model:
    from deployer.config.loader import validate_document
    from deployer.config.yamlsafe import ConfigFileError, load_yaml

    try:
        doc = load_yaml(path, str(path))
    except ConfigFileError as exc:
        raise ConfigError([exc.problem]) from None
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror}") from exc
    parsed, problems = validate_document(model, doc, str(path))
    if parsed is None:
        raise ConfigError(problems)
    return parsed
