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
from deployer.web.auth.files import read_model


class GroupsFile(Strict):
    groups: dict[GroupName, list[Email]] = Field(default_factory=dict)


def load_group_map(path: Path) -> dict[str, frozenset[str]]:
    """email (lower case) -> the groups it is in."""
    parsed = read_model(path, GroupsFile, "groups file")
    members: dict[str, set[str]] = {}
    for group, emails in parsed.groups.items():
        for email in emails:
            members.setdefault(email.lower(), set()).add(group)
    return {email: frozenset(groups) for email, groups in members.items()}
