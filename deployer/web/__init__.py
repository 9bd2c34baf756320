"""The deploy-button page: `deployer web`.

Developers press Check, Deploy or Roll back for a service and an environment and watch the live
log. A press starts a job in this process that calls the same stories as the CLI
(``deployer.pipeline.deploy``, ``rollback``, ``history``) through the same composition root
(``deployer.app.App``); the page holds no deploy rules and never shells out to the CLI.

- ``forms``: parse a button press and apply the page's own rules (production confirmation, actor).
- ``jobs``: the in-process registry (one job per service and environment), its log and outcome.
- ``actions``: what a job runs, and what the overview reads from the clusters.
- ``sse``: Server-Sent Events framing for the live log.
- ``audit``: one JSON line per job start and end.
- ``templating``, ``templates/``, ``pages``: server-rendered HTML (jinja2, autoescape).
- ``context``: what every request shares, and the who-is-asking / may-they hooks.
- ``asgi``, ``routes``, ``headers``: the Starlette app, its routes, its headers.
- ``serve``: uvicorn on a bound socket.
"""
