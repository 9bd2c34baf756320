"""The kwok Stages the platform's fake kubelets play: kwok's own defaults plus one for tests.

The `kwok` binary (unlike kwokctl) has no built-in stages: without Stage objects in its config
it refuses to start. These are kwok v0.8.0's defaults, copied from
sigs.k8s.io/kwok/kustomize/stage/node/fast/node-initialize.yaml,
.../node/heartbeat-with-lease/node-heartbeat-with-lease.yaml (kwok's default
--node-lease-duration-seconds is 40, so it heartbeats through a Lease) and
.../pod/fast/{pod-ready,pod-complete,pod-delete}.yaml, with one change and one addition:

- pod-ready skips pods labelled ``deployer.test/never-ready: "true"``;
- pod-never-ready gives exactly those pods a running container that never passes its readiness
  check (phase Running, Ready=False), the way a pod with a failing readiness probe looks. A
  Deployment of such pods never completes its rollout, which is how tests make a rollout fail
  on purpose. Deleting them still works (pod-delete matches every pod being deleted).

The stages are data files beside this module, one per Stage, named as upstream names them. Three
placeholders keep each fact in one place: ``@LABEL@`` and ``@VALUE@`` become the never-ready
label below (tests import it from here), and an ``@POD_IPS@`` line becomes ``pod-ips.tmpl``, the
pod IP lines pod-ready and pod-never-ready share (indented for their place in the template).
"""

from __future__ import annotations

from importlib import resources

NEVER_READY_LABEL = "deployer.test/never-ready"
NEVER_READY_VALUE = "true"

# kwok's config order: node stages, then pod stages; the file names are upstream's stage names.
STAGES = ("node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-never-ready", "pod-complete",
          "pod-delete")


def _data(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def stages_yaml() -> str:
    """All stages as one multi-document YAML file for `kwok --config`."""
    pod_ips = _data("pod-ips.tmpl")
    stages = [_data(f"{name}.yaml").replace("@POD_IPS@\n", pod_ips).replace("@LABEL@", NEVER_READY_LABEL)
              .replace("@VALUE@", NEVER_READY_VALUE) for name in STAGES]
    return "---\n".join(stages)
