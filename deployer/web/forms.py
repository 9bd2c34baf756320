"""A button press, parsed and checked: which action on which service and environment, by whom.

Pure functions over the request's body and headers. Refusals are ``UsageError``s whose message
and hint the page shows as they are, so they say how to proceed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from deployer.config.models import DNS_LABEL
from deployer.errors import UsageError

ACTIONS = ("check", "deploy", "rollback", "promote")
PRODUCTION = ("production", "prod")
MAX_BODY = 16 * 1024
_NAME = re.compile(DNS_LABEL)
_ACTOR_UNSAFE = re.compile(r"[^A-Za-z0-9@._:+/=-]")


@dataclass(frozen=True)
class JobForm:
    action: str
    service: str
    environment: str
    revision: int | None = None
    """For rollback: the revision to return to (default: the one before the current release)."""
    confirm: str = ""
    """What the person typed to confirm a production change (the service's name)."""
    source: str = ""
    """For promote: the environment whose running release is promoted (the form's ``from``)."""


def parse_job_form(body: bytes, content_type: str) -> JobForm:
    """The fields of ``POST /jobs`` (an HTML form, urlencoded)."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise UsageError(f"POST /jobs takes a form (application/x-www-form-urlencoded), not "
                         f"{content_type[:80] or 'nothing'}",
                         hint="Press a button on the page, or send action, service and environment as form fields.")
    if len(body) > MAX_BODY:
        raise UsageError(f"the form is {len(body)} bytes; at most {MAX_BODY} are accepted")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=20, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"the form could not be read: {exc}") from None

    def one(name: str, required: bool = True) -> str:
        values = fields.get(name, [])
        if len(values) > 1:
            raise UsageError(f"the form has {len(values)} values for {name}; send one")
        value = values[0].strip() if values else ""
        if required and not value:
            raise UsageError(f"the form has no {name}", hint="Send action, service and environment.")
        return value

    action = one("action")
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}", hint=f"Actions: {', '.join(ACTIONS)}.")
    service, environment = one("service"), one("environment")
    for what, value in (("service", service), ("environment", environment)):
        if len(value) > 63 or not _NAME.match(value):
            raise UsageError(f"{what} {value[:80]!r} is not a valid name",
                             hint="Names are lower-case letters, digits and '-' (as in services/*.yaml).")
    revision_text = one("revision", required=False)
    revision = None
    if revision_text:
        if action != "rollback":
            raise UsageError(f"a revision only applies to a rollback, not to {action}")
        if not revision_text.removeprefix("r").isdigit() or int(revision_text.removeprefix("r")) < 1:
            raise UsageError(f"revision {revision_text[:20]!r} is not a revision number",
                             hint="Give a revision from the service's history, such as 3 or r3.")
        revision = int(revision_text.removeprefix("r"))
    source = one("from", required=action == "promote")
    if source and action != "promote":
        raise UsageError(f"from only applies to a promote, not to {action}")
    if source and (len(source) > 63 or not _NAME.match(source)):
        raise UsageError(f"from {source[:80]!r} is not a valid name",
                         hint="Names are lower-case letters, digits and '-' (as in services/*.yaml).")
    return JobForm(action, service, environment, revision, one("confirm", required=False), source)


def needs_confirmation(action: str, environment: str, cluster_environments: list[str]) -> bool:
    """Deploys and rollbacks that reach production must be confirmed; a check writes nothing.

    Production is the service's environment by that name, or any target cluster whose file
    declares ``environment: production`` (so a service cannot slip past by naming its
    environment differently).
    """
    if action == "check":
        return False
    return environment.lower() in PRODUCTION or any(e.lower() in PRODUCTION for e in cluster_environments)


def check_confirmation(form: JobForm, needed: bool) -> None:
    if needed and form.confirm != form.service:
        raise UsageError(f"{form.action} of {form.service} to {form.environment} changes production and was not "
                         "confirmed", hint=f"Type the service's name ({form.service}) in the confirmation box, "
                                           "then press the button again.")


def actor_of(forwarded_user: str | None, address: str) -> str:
    """Who pressed: the user an authenticating proxy names (X-Forwarded-User), else the client
    address. Recorded in the deploy lock and the release records, so it is kept to a safe
    alphabet and length."""
    who = (forwarded_user or "").strip() or address
    return "web:" + (_ACTOR_UNSAFE.sub("_", who)[:64] or "unknown")


def same_origin(origin: str | None, referer: str | None, host: str | None) -> bool:
    """Whether a POST comes from this page rather than another site (which a browser would
    otherwise let submit a form here). Browsers send Origin on every cross-site POST; tools such
    as curl send neither header and are allowed."""
    if origin == "null":  # sandboxed frames and some redirects: not this page
        return False
    source = origin or referer
    if not source:
        return True
    return bool(host) and urlsplit(source).netloc.lower() == (host or "").lower()
