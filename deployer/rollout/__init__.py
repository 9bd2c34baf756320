"""Rollout rules: when is a workload done, what to do when a cluster fails, who holds the lock.

Everything here is a pure function of data (objects as dicts, times as numbers) so the rules are
tested in milliseconds from inline YAML, as kapp tests its resourcesmisc rules.
"""
