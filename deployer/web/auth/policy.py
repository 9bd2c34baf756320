"""Who may do what on the deploy page: a pure decision over the service file and an identity.

The server asks this on every POST and API call (through ``WebContext.authorize``); the page may
also use it to hide buttons, but hiding is a courtesy and never the check.

Rules, per (service, environment, action):

- ``check`` (a dry run) writes nothing: every signed-in user may run it.
- ``deploy``, ``promote``, ``rollback``: the groups named for that action in the environment's
  ``access`` block, else in the service's. A user in any of them may act.
- No groups named: open to every signed-in user, unless the environment is restricted (named
  production or prod, a target cluster declares ``environment: production``, or
  ``access.restricted: true``): then it is refused to everyone, and the refusal says which line of
  the service file to add.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deployer.config.models import PRODUCTION_NAMES, Service

WRITE_ACTIONS = ("deploy", "promote", "rollback")
ACTIONS = ("check", *WRITE_ACTIONS)


@dataclass(frozen=True)
class Identity:
    """A signed-in user: ``email`` names them (it becomes the actor ``web:<email>``), ``groups``
    are what the sign-in (a claim, the mapping file or a trusted proxy) says they belong to."""

    email: str
    groups: frozenset[str]
    via: str  # "oidc", "bearer", "proxy": how the server learned who this is

    @property
    def actor(self) -> str:
        return f"web:{self.email}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    hint: str = ""


def is_restricted(service: Service, environment: str, cluster_environments: Iterable[str] = ()) -> bool:
    """Whether an environment's writes always need a named group (production and its likes)."""
    env = service.environments[environment]
    return (environment.lower() in PRODUCTION_NAMES
            or any(e.lower() in PRODUCTION_NAMES for e in cluster_environments)
            or bool(env.access and env.access.restricted))


def groups_for(service: Service, environment: str, action: str) -> list[str] | None:
    """The groups whose members may do ``action`` here; None when neither the environment nor the
    service names any (an empty list names none on purpose, and so allows no one)."""
    for access in (service.environments[environment].access, service.access):
        groups = getattr(access, action, None) if access is not None else None
        if groups is not None:
            return list(groups)
    return None


def decide(identity: Identity | None, service: Service, environment: str, action: str,
           cluster_environments: Iterable[str] = ()) -> Decision:
    """May ``identity`` do ``action`` on ``service``'s ``environment``?"""
    where = f"{action} of {service.name} to {environment}"
    if identity is None:
        return Decision(False, f"{where} needs a signed-in user", "Sign in (/login), then press the button again.")
    if action not in ACTIONS:
        return Decision(False, f"unknown action {action!r}", f"Actions: {', '.join(ACTIONS)}.")
    if environment not in service.environments:
        return Decision(False, f"{service.name} has no environment {environment}",
                        f"Its environments: {', '.join(sorted(service.environments))}.")
    if action == "check":
        return Decision(True, f"{where}: a dry run writes nothing")
    groups = groups_for(service, environment, action)
    if groups is None:
        if is_restricted(service, environment, cluster_environments):
            return Decision(False, f"{where} is refused to everyone: {environment} is a production environment "
                                   f"and the service file names no group that may {action} it",
                            f"Add environments.{environment}.access.{action}: [GROUP] (or access.{action} for "
                            f"every environment) to services/{service.name}.yaml.")
        return Decision(True, f"{where}: open to every signed-in user (no groups named)")
    member_of = sorted(identity.groups.intersection(groups))
    if member_of:
        return Decision(True, f"{where}: {identity.email} is in {', '.join(member_of)}")
    named = ", ".join(groups) if groups else "no group"
    return Decision(False, f"{identity.email} may not {action} {service.name} to {environment}: that needs "
                           f"membership of {named}",
                    "Ask an owner of one of those groups to add you, or ask someone in one to press the button.")
