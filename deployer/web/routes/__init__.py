"""The page's routes, one module per area: ``pages`` (the overview, static files, /healthz) and
``jobs`` (pressing a button, a job's page, its live log and its JSON)."""
