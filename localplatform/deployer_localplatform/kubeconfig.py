"""Kubeconfig files for the platform's clusters.

They reference the token by path (``tokenFile``, understood by kubectl, client-go and the Python
client) rather than embedding it, so a kubeconfig can be shown or copied without leaking it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from deployer_localplatform.pki import write_private


def write_kubeconfig(path: Path, *, cluster: str, server: str, ca_file: Path, token_file: Path,
                     user: str = "admin") -> None:
    context = f"{user}@{cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": context, "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": context}}],
        "current-context": context,
    }
    write_private(path, yaml.safe_dump(doc, sort_keys=False))
