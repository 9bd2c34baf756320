"""`deployer queue join|leave|list`: the deploy page's push queue from the command line (and chat
bots), through the page's JSON API (/api/queues/...), so everyone shares the one queue."""

from __future__ import annotations

import os
from typing import Any

import click

from deployer.cli.output import emit, settings_of
from deployer.errors import ApiError, UsageError

TOKEN_ENV = "DEPLOYER_WEB_TOKEN"


class PageRefused(ApiError):
    """The deploy page answered the request with an error (its message is shown as is)."""


def _options(command: Any) -> Any:
    command = click.option("--token", default=None, metavar="ID_TOKEN",
                           help=f"A bearer ID token of the page's sign-in issuer (default: ${TOKEN_ENV}; prefer "
                                "the variable: a command line shows in `ps`).")(command)
    command = click.option("--url", required=True, metavar="https://page",
                           help="The deploy page's address.")(command)
    command = click.option("--env", "environment", required=True, help="The environment the queue deploys to.")(
        command)
    return click.argument("service")(command)


def call(method: str, url: str, path: str, token: str | None) -> dict[str, Any]:
    """One JSON API request; the page's own error message when it refuses. The token goes in the
    Authorization header only, never into a message."""
    import requests

    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    token = token or os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        answer = requests.request(method, url.rstrip("/") + path, headers=headers, timeout=30,
                                  data=b"{}" if method == "POST" else None, allow_redirects=False)
    except requests.RequestException as exc:
        raise PageRefused(f"the deploy page at {url} did not answer: {type(exc).__name__}",
                          hint="Check --url and that the page is up.") from None
    try:
        data = answer.json()
    except ValueError:
        data = None
    if not answer.ok or not isinstance(data, dict):
        said = data.get("error", "") if isinstance(data, dict) else ""
        raise PageRefused(f"the deploy page refused {method} {path}: {answer.status_code} {said}".rstrip(),
                          hint=(data or {}).get("hint") or f"Sign in with a bearer ID token (--token or ${TOKEN_ENV}).",
                          status=answer.status_code)
    return data


def _text(queue: dict[str, Any]) -> str:
    lines = [f"queue {queue['queue']} to {queue['environment']}: {queue['length']} waiting"]
    for e in queue["entries"]:
        state = " (deploying)" if e["job"] else " (has the turn)" if e["turn"] else ""
        lines.append(f"  {e['place']}. {e['actor']}{state}")
    place = queue["you"]["place"]
    lines.append(f"you are number {place}" if place else "you are not in this queue")
    return "\n".join(lines)


@click.group()
def queue() -> None:
    """Take turns deploying: the deploy page's push queue of a service and environment.

    \b
    The head of the queue has the turn and a bounded time to press Deploy; a deploy pressed on the
    page while others are queued joins the queue instead of running around it (docs/queue.md).

    \b
    Examples:
      export DEPLOYER_WEB_TOKEN=$(gcloud auth print-identity-token --audiences=CLIENT_ID)
      deployer queue join hello --env production --url https://deploy.example.com
      deployer queue list hello --env production --url https://deploy.example.com
      deployer -o json queue list hello --env production --url https://deploy.example.com
      deployer queue leave hello --env production --url https://deploy.example.com
    """


def _path(service: str, environment: str, action: str = "") -> str:
    from urllib.parse import quote

    if not service or not environment:
        raise UsageError("say which queue: SERVICE and --env")
    return f"/api/queues/{quote(service, safe='')}/{quote(environment, safe='')}" + (f"/{action}" if action else "")


@queue.command("list")
@_options
@click.pass_context
def list_(ctx: click.Context, service: str, environment: str, url: str, token: str | None) -> None:
    """Who waits in SERVICE's queue for --env, in order, and your place."""
    data = call("GET", url, _path(service, environment), token)
    emit(settings_of(ctx), data, lambda: _text(data))


@queue.command()
@_options
@click.pass_context
def join(ctx: click.Context, service: str, environment: str, url: str, token: str | None) -> None:
    """Join SERVICE's queue for --env (joining twice keeps your place)."""
    data = call("POST", url, _path(service, environment, "join"), token)
    emit(settings_of(ctx), data, lambda: _text(data))


@queue.command()
@_options
@click.pass_context
def leave(ctx: click.Context, service: str, environment: str, url: str, token: str | None) -> None:
    """Leave SERVICE's queue for --env (the turn passes on if you had it)."""
    data = call("POST", url, _path(service, environment, "leave"), token)
    emit(settings_of(ctx), data, lambda: _text(data))
