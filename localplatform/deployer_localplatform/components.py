"""The command line of every platform process, and the config files only one process reads.

Flags follow what the upstream projects use for single-machine clusters (kwokctl's binary
runtime, controller-runtime's envtest), restricted to 127.0.0.1. Every port is given from
outside, so `up` can pick free ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from deployer_localplatform.binaries import Binaries
from deployer_localplatform.layout import ClusterFiles, StateLayout
from deployer_localplatform.processes import ProcessSpec
from deployer_localplatform.topology import GCP_PROJECT, NODE_IP, POD_CIDR, SERVICE_CIDR, ClusterSpec

LOCALHOST = "127.0.0.1"
ETCD = "etcd"
REGISTRY = "registry"
GCP_STANDIN = "gcp-standin"
# kwok's own annotation for nodes it should play (its --manage-nodes-with-annotation-selector).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")


def _spec(layout: StateLayout, name: str, argv: list[str], **kwargs) -> ProcessSpec:
    return ProcessSpec(name=name, argv=argv, log=layout.log(name), pidfile=layout.pidfile(name), **kwargs)


def etcd(layout: StateLayout, bins: Binaries, client_port: int, peer_port: int) -> ProcessSpec:
    peer = f"http://{LOCALHOST}:{peer_port}"
    client = f"http://{LOCALHOST}:{client_port}"
    return _spec(layout, ETCD, [
        str(bins["etcd"]), "--name=platform", f"--data-dir={layout.etcd_dir}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=platform={peer}", "--initial-cluster-state=new",
        # The data is thrown away at every start: durability buys nothing, fsync costs seconds.
        "--unsafe-no-fsync", "--log-level=warn",
    ])


def apiserver(layout: StateLayout, bins: Binaries, spec: ClusterSpec, files: ClusterFiles, *,
              port: int, etcd_url: str) -> ProcessSpec:
    argv = [
        str(bins["kube-apiserver"]),
        f"--etcd-servers={etcd_url}", f"--etcd-prefix={spec.etcd_prefix}",
        f"--bind-address={LOCALHOST}", f"--advertise-address={LOCALHOST}", f"--secure-port={port}",
        f"--tls-cert-file={files.serving_cert}", f"--tls-private-key-file={files.serving_key}",
        f"--client-ca-file={files.ca_cert}", f"--cert-dir={files.cert_dir}",
        "--authorization-mode=RBAC",
        f"--token-auth-file={files.token_auth}",
        f"--service-account-issuer=https://kubernetes.default.svc.{spec.name}",
        f"--service-account-key-file={files.sa_public_key}",
        f"--service-account-signing-key-file={files.sa_signing_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # The default reconciler would publish 127.0.0.1 as the `kubernetes` Service's endpoint,
        # which the API rejects (loopback) and logs as an error every few seconds. Nothing here
        # reaches the API server through that Service.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        # Every write, with who sent it and from which user agent: the API server's own account of
        # what a client changed (tests prove a no-change run writes nothing with it). Reads are
        # left out: they are most requests and prove nothing about changes.
        f"--audit-policy-file={files.audit_policy}", f"--audit-log-path={files.audit_log}",
        "--audit-log-format=json", "--audit-log-maxsize=50", "--audit-log-maxbackup=2",
    ]
    if spec.google_webhook:
        argv += [
            f"--authentication-token-webhook-config-file={files.webhook_kubeconfig}",
            "--authentication-token-webhook-version=v1",
            # Short, so a service-account key or binding removed in a test takes effect quickly.
            "--authentication-token-webhook-cache-ttl=5s",
        ]
    return _spec(layout, spec.component("apiserver"), argv)


AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    verbs: [get, list, watch]
  - level: Metadata
"""


def write_audit_policy(files: ClusterFiles) -> None:
    files.audit_policy.write_text(AUDIT_POLICY)


def _serving_flags(files: ClusterFiles, port: int) -> list[str]:
    # The controller-manager and scheduler serve /healthz, which the platform polls for readiness.
    # They serve it with the cluster's 127.0.0.1 certificate so the probe verifies TLS as well.
    # No --authentication-kubeconfig: delegated authentication would look for the request-header
    # CA the API server does not have (it logs an error every few seconds), and /healthz is
    # always allowed anyway.
    return [f"--kubeconfig={files.admin_kubeconfig}", "--leader-elect=false",
            f"--bind-address={LOCALHOST}", f"--secure-port={port}",
            f"--tls-cert-file={files.serving_cert}", f"--tls-private-key-file={files.serving_key}"]


def controller_manager(layout: StateLayout, bins: Binaries, spec: ClusterSpec, files: ClusterFiles, *,
                       port: int) -> ProcessSpec:
    return _spec(layout, spec.component("controller-manager"), [
        str(bins["kube-controller-manager"]), *_serving_flags(files, port),
        f"--cluster-name={spec.name}", f"--root-ca-file={files.ca_cert}",
        f"--service-account-private-key-file={files.sa_signing_key}",
        f"--cert-dir={files.cert_dir}", "--profiling=false",
    ])


def scheduler(layout: StateLayout, bins: Binaries, spec: ClusterSpec, files: ClusterFiles, *,
              port: int) -> ProcessSpec:
    return _spec(layout, spec.component("scheduler"), [
        str(bins["kube-scheduler"]), *_serving_flags(files, port), "--profiling=false",
    ])


def kwok(layout: StateLayout, bins: Binaries, spec: ClusterSpec, files: ClusterFiles, *,
         port: int) -> ProcessSpec:
    key, value = KWOK_NODE_ANNOTATION
    return _spec(layout, spec.component("kwok"), [
        str(bins["kwok"]), f"--kubeconfig={files.admin_kubeconfig}", f"--config={files.kwok_config}",
        "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={key}={value}",
        f"--cidr={POD_CIDR}", f"--node-ip={NODE_IP}", f"--server-address={LOCALHOST}:{port}",
        # Heartbeat nodes through their Lease (the node-heartbeat-with-lease stage only refreshes
        # status every ten minutes). Without it the node-lifecycle controller marks the node
        # NotReady after its grace period (~40 s) and flips every pod to Ready=False mid-rollout.
        "--node-lease-duration-seconds=40",
    ])


def registry(layout: StateLayout, port: int) -> ProcessSpec:
    config = layout.registry_dir / "config.yml"
    write_registry_config(config, layout.registry_dir / "storage", port)
    return _spec(layout, REGISTRY, ["docker-registry", "serve", str(config)])


def write_registry_config(path: Path, storage: Path, port: int) -> None:
    # The distribution registry's config format (docs/configuration.md of distribution v2.8).
    # Plain http on 127.0.0.1: clients need --tls-verify=false (buildah, skopeo).
    doc = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"{LOCALHOST}:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def gcp_standin(layout: StateLayout, port_file: Path) -> ProcessSpec:
    return _spec(layout, GCP_STANDIN, [
        sys.executable, "-m", "deployer_localplatform.gcp_standin", "--state-dir", str(layout.gcp_dir),
        "--port", "0", "--port-file", str(port_file), "--project", GCP_PROJECT,
    ])
