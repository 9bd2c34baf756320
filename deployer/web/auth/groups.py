"""The group mapping file: which signed-in emails belong to which groups, for issuers that put no
groups in their tokens (Google among them)::

    groups:
      payments-oncall: [alice@example.com, bob@example.com]
      sre: [carol@example.com]

Read once at start; an invalid file stops the start with file, line and field.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from deployer.config.models import Email, GroupName, Strict
from deployer.errors import ConfigError, UsageError


class GroupsFile(Strict):
    groups: dict[GroupName, list[Email]] = Field(default_factory=dict)


def load_group_map(path: Path) -> dict[str, frozenset[str]]:
    """email (lower case) -> the groups it is in."""
    from deployer.config.loader import validate_document
    from deployer.config.yamlsafe import ConfigFileError, load_yaml

    try:
        doc = load_yaml(path, str(path))
    except ConfigFileError as exc:
        raise ConfigError([exc.problem]) from None
    except OSError as exc:
        raise UsageError(f"cannot read the groups file {path}: {exc.strerror}") from exc
    parsed, problems = validate_document(GroupsFile, doc, str(path))
    if parsed is None:
        raise ConfigError(problems)
    members: dict[str, set[str]] = {}
    for group, emails in parsed.groups.items():
        for email in emails:
            members.setdefault(email.lower(), set()).add(group)
    return {email: frozenset(groups) for email, groups in members.items()}
