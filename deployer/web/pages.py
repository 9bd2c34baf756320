"""The page's HTML, rendered on the server from plain data.

Every value that comes from a file, a cluster, a request or a log goes through ``esc`` (html.escape
with quotes), in text and in attributes alike; the script (``app.js``) writes log lines as text
nodes only. Nothing here names a cluster's provider: people see services, environments, cluster
names and releases.
"""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import quote

from deployer.rollout.promotion import source_text
from deployer.rollout.release import ReleaseRecord
from deployer.web.actions import ClusterState, EnvironmentState, ServiceState
from deployer.web.jobs import Job, headline, meaning


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def shell(title: str, body: str, *, actor: str = "") -> str:
    who = f'<span class="who">you are {esc(actor)}</span>' if actor else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · deployer</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>\n'
        f'<body><header><a class="brand" href="/">deployer</a>{who}</header>\n'
        f"<main>\n{body}\n</main>\n"
        '<script src="/static/app.js" defer></script></body></html>\n'
    )


def error_box(message: str, hint: str = "") -> str:
    hint_html = f'<p class="hint">{esc(hint)}</p>' if hint else ""
    return f'<div class="error" role="alert"><pre>{esc(message)}</pre>{hint_html}</div>'


def error_page(status: int, message: str, hint: str = "", *, actor: str = "",
               link: tuple[str, str] | None = None) -> str:
    more = f'<p><a href="{esc(link[0])}">{esc(link[1])}</a></p>' if link else ""
    back = '<p><a href="/">Back to all services</a></p>'
    body = f"<h1>{esc(status_text(status))}</h1>{error_box(message, hint)}{more}{back}"
    return shell(status_text(status), body, actor=actor)


def status_text(status: int) -> str:
    return {400: "Not done", 403: "Refused", 404: "Not found", 405: "Not allowed", 409: "Already running",
            500: "Something went wrong"}.get(status, str(status))


# --- the overview ---------------------------------------------------------------------------------

def index_page(services: list[ServiceState], jobs: list[Job], running: dict[tuple[str, str], Job], *,
               actor: str = "", error: tuple[str, str] | None = None) -> str:
    parts = ["<h1>Services</h1>"]
    if error:
        parts.append(error_box(*error))
    if jobs:
        parts.append(jobs_table(jobs))
    if not services and not error:
        parts.append('<p class="empty">No services are declared in services/*.yaml.</p>')
    parts += [service_section(s, running) for s in services]
    return shell("Services", "\n".join(parts), actor=actor)


def jobs_table(jobs: list[Job]) -> str:
    rows = []
    for job in jobs:
        state = "running" if job.running else (job.outcome or "")
        rows.append(f'<tr><td><a href="/jobs/{esc(quote(job.id))}">{esc(job.form.action)}</a></td>'
                    f"<td>{esc(job.form.service)}</td><td>{esc(job.form.environment)}</td>"
                    f"<td>{esc(job.actor)}</td><td>{esc(when(job.started))}</td>"
                    f'<td><span class="badge {esc(state)}">{esc(state)}</span></td></tr>')
    return ('<section class="jobs"><h2>Recent jobs</h2><table><thead><tr><th>job</th><th>service</th>'
            "<th>environment</th><th>by</th><th>started</th><th>state</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def service_section(service: ServiceState, running: dict[tuple[str, str], Job]) -> str:
    body = [f'<section class="service" id="service-{esc(service.name)}"><h2>{esc(service.name)}</h2>']
    if service.error:
        body.append(error_box(service.error))
    body.append('<div class="environments">')
    body += [environment_card(service.name, env, running.get((service.name, env.name))) for env in service.environments]
    body.append("</div></section>")
    return "\n".join(body)


def environment_card(service: str, env: EnvironmentState, job: Job | None) -> str:
    badge = '<span class="badge production">production</span>' if env.production else ""
    rows = "".join(cluster_row(c) for c in env.clusters)
    card = [f'<div class="env{" production" if env.production else ""}"><h3>{esc(env.name)} {badge}</h3>',
            '<table class="clusters"><thead><tr><th>cluster</th><th>release</th><th>image</th><th>deployed</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"]
    if job is not None:
        card.append(f'<p class="busy">{esc(job.actor)} is {esc(headline(job))} now: '
                    f'<a href="/jobs/{esc(quote(job.id))}">watch the log</a></p>')
    card.append('<div class="actions">')
    card.append(action_form("check", service, env, "Check", "Render and preflight on every cluster; "
                                                            "builds and writes nothing"))
    card.append(action_form("deploy", service, env, f"Deploy to {env.name}", "Build, push, apply and wait on "
                                                                                 "every cluster", primary=True))
    card.append(action_form("rollback", service, env, "Roll back", "Back to the previous release, or to the "
                                                                     "revision given"))
    card.append("</div></div>")
    return "\n".join(card)


def cluster_row(state: ClusterState) -> str:
    name = f"<td>{esc(state.cluster)}</td>"
    if state.error:
        return f'<tr>{name}<td colspan="3" class="unreadable">unreadable: {esc(state.error)}</td></tr>'
    now = state.current
    live = drift_notes(state)
    if now is None:
        note = f"no release; {release_note(state.latest)}" if state.latest else "never deployed"
        return f'<tr>{name}<td colspan="3" class="none">{esc(note)}{live}</td></tr>'
    notes = [f"rollback to r{now.rollback_of}"] if now.rollback_of else []
    if now.promoted_from:
        notes.append(f"promoted from {source_text(now.promoted_from)}")
    if state.latest is not None and state.latest.revision != now.revision:
        notes.append(release_note(state.latest))
    extra = "".join(f'<div class="note">{esc(note)}</div>' for note in notes)
    digest = now.digest or now.image.rsplit("@", 1)[-1]
    row = '<tr class="drift">' if state.drift else "<tr>"
    return (f"{row}{name}<td><strong>r{esc(now.revision)}</strong>"
            f"{extra}{live}</td>"
            f'<td><code title="{esc(now.image)}">{esc(short_digest(digest))}</code></td>'
            f"<td>{esc(now.actor)}<br><small>{esc(now.time[:19].replace('T', ' '))}</small></td></tr>")


def drift_notes(state: ClusterState) -> str:
    """What the cluster runs that its newest record does not say, as `deployer status` prints it."""
    return "".join(f'<div class="drift" role="alert">{esc(f.message)}</div>' if f.drift
                   else f'<div class="note">{esc(f.message)}</div>' for f in state.findings)


def release_note(record: ReleaseRecord) -> str:
    return f"latest r{record.revision} {record.outcome}"


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as container tools abbreviate image IDs (the page's tooltip has all)."""
    _, _, value = digest.partition(":")
    return (value or digest)[:12]


def action_form(action: str, service: str, env: EnvironmentState, label: str, title: str, *,
                primary: bool = False) -> str:
    fields = [f'<input type="hidden" name="action" value="{esc(action)}">',
              f'<input type="hidden" name="service" value="{esc(service)}">',
              f'<input type="hidden" name="environment" value="{esc(env.name)}">']
    if action == "rollback":
        fields.append('<input name="revision" inputmode="numeric" pattern="r?[0-9]+" size="9" '
                      'placeholder="revision" title="The revision to return to (default: the previous release)" '
                      'aria-label="revision to return to">')
    if env.production and action != "check":
        fields.append(f'<input name="confirm" required autocomplete="off" size="14" pattern="{esc(service)}" '
                      f'placeholder="type {esc(service)}" title="Type the service name to confirm" '
                      f'aria-label="type the service name ({esc(service)}) to confirm">')
    css = "primary" if primary else ""
    return (f'<form method="post" action="/jobs" class="{esc(action)}">{"".join(fields)}'
            f'<button type="submit" class="{css}" title="{esc(title)}">{esc(label)}</button></form>')


# --- a job ----------------------------------------------------------------------------------------

def job_page(job: Job, *, actor: str = "") -> str:
    form = job.form
    revision = f" to r{form.revision}" if form.revision is not None else ""
    title = f"{form.action} {form.service} in {form.environment}{revision}"
    state = "running" if job.running else (job.outcome or "")
    log = "\n".join(esc(line) for line in job.lines)
    events = f"/jobs/{quote(job.id)}/events?from={len(job.lines)}"
    finished = f" · finished {esc(when(job.finished))}" if job.finished else ""
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">job {esc(job.id)} · started by {esc(job.actor)} at {esc(when(job.started))}{finished}</p>',
        f'<p id="status" class="status {esc(state)}" role="status">{esc(headline(job))}</p>',
        f'<pre id="log" class="log" data-state="{esc(state)}" data-events="{esc(events)}">{log}</pre>',
        result_section(job),
        '<p><a href="/">Back to all services</a></p>',
    ]
    return shell(title, "\n".join(body), actor=actor)


def result_section(job: Job) -> str:
    hidden = " hidden" if job.running else ""
    code = "" if job.exit_code is None else f"exit code {job.exit_code}: {meaning(job.exit_code)}"
    hint = f"hint: {job.hint}" if job.hint else ""
    return (f'<section id="result"{hidden}><h2>Result</h2>'
            f'<pre id="report" class="report"{"" if job.report else " hidden"}>{esc(job.report)}</pre>'
            f'<pre id="error" class="error-text"{"" if job.error else " hidden"}>{esc(job.error)}</pre>'
            f'<p id="hint" class="hint"{"" if hint else " hidden"}>{esc(hint)}</p>'
            f'<p id="exit" class="exit">{esc(code)}</p></section>')
