"""View models: pure functions from release records, status and jobs to what a page shows.

Each page has one module here (``overview``, ``history``, ``promote``); its route reads the data
through the stories' own functions (``deployer.web.reads``) and renders the view model as HTML
(the page's template) or as JSON (``to_dict``, the page's ``/api/...`` twin). No I/O here: every
view is tested from inline records.
"""
