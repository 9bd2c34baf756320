"""The files one cluster needs before its processes start: PKI, tokens, kubeconfig, kwok stages.

Everything is made fresh at each start (new CA, new random tokens): a token from an earlier run
never opens a later cluster, and nothing depends on what an earlier run left behind.
"""

from __future__ import annotations

import secrets

from deployer_localplatform import pki
from deployer_localplatform.kubeconfig import write_kubeconfig
from deployer_localplatform.kwok_stages import stages_yaml
from deployer_localplatform.layout import ClusterFiles
from deployer_localplatform.topology import ADMIN_USER, ClusterSpec


def prepare_cluster_files(spec: ClusterSpec, files: ClusterFiles, server: str) -> None:
    files.root.mkdir(parents=True, exist_ok=True)
    files.cert_dir.mkdir(exist_ok=True)

    ca = pki.new_ca(f"{spec.name}-ca")
    files.ca_cert.write_bytes(ca.cert_pem)
    pki.write_private(files.ca_key, ca.key_pem)
    serving = pki.new_serving_cert(ca, f"{spec.name}-apiserver")
    files.serving_cert.write_bytes(serving.cert_pem)
    pki.write_private(files.serving_key, serving.key_pem)
    signing, public = pki.new_signing_key()
    pki.write_private(files.sa_signing_key, signing)
    files.sa_public_key.write_bytes(public)

    rows = []
    for user in spec.token_users:
        token = secrets.token_urlsafe(32)
        pki.write_private(files.token(user.name), token)
        # kube-apiserver's static token file: token,user,uid[,"group1,group2"]
        row = f"{token},{user.name},{user.name}"
        if user.groups:
            row += ',"' + ",".join(user.groups) + '"'
        rows.append(row)
    pki.write_private(files.token_auth, "\n".join(rows) + "\n")

    write_kubeconfig(files.admin_kubeconfig, cluster=spec.name, server=server, ca_file=files.ca_cert,
                     token_file=files.token(ADMIN_USER))
    files.kwok_config.write_text(stages_yaml())
