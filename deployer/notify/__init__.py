"""Outgoing notifications: the events a run publishes (``events``), their JSON and Slack forms
(``bodies``), which webhook hears which (``routing``) and the background sender (``sender``)."""
