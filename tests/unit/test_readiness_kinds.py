"""Readiness per kind, case by case from kubectl's polymorphichelpers/rollout_status.go
(StatefulSetStatusViewer, DaemonSetStatusViewer) and `kubectl wait --for=condition=Complete|Failed`
for Jobs. Each row is (status as the controllers write it, what kubectl says, what we must say)."""

from __future__ import annotations

import pytest
import yaml

from deployer.rollout.readiness import has_rule, readiness


def sts(spec: str, status: str, generation: int = 2) -> dict:
    return yaml.safe_load(f"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db, generation: {generation}}}\n"
                          f"spec: {spec}\nstatus: {status}\n")


ROLLING = "{replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}}"
PARTITIONED = "{replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}"


@pytest.mark.parametrize(("spec", "status", "state", "words"), [
    # "Waiting for statefulset spec update to be observed..."
    (ROLLING, "{observedGeneration: 1, readyReplicas: 3, updatedReplicas: 3}", "waiting", "observe generation 2"),
    (ROLLING, "{readyReplicas: 3, updatedReplicas: 3}", "waiting", "observe generation 2"),
    # "Waiting for N pods to be ready..."
    (ROLLING, "{observedGeneration: 2, readyReplicas: 2, updatedReplicas: 3}", "waiting", "2 of 3 pods are ready"),
    # partition 0 (the API server's default): every pod must be on the new revision
    (ROLLING, "{observedGeneration: 2, readyReplicas: 3, updatedReplicas: 2, currentRevision: a, updateRevision: b}",
     "waiting", "2 of 3 pods are on the new revision"),
    # kubectl judges by updatedReplicas, not currentRevision, once rollingUpdate is set
    (ROLLING, "{observedGeneration: 2, readyReplicas: 3, updatedReplicas: 3, currentRevision: a, updateRevision: b}",
     "done", "3 on the new revision"),
    # "partitioned roll out complete": pods below the partition stay on the old revision on purpose
    (PARTITIONED, "{observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1, currentRevision: a, "
                  "updateRevision: b}", "done", "(partition 2)"),
    (PARTITIONED, "{observedGeneration: 2, readyReplicas: 3, updatedReplicas: 0, currentRevision: a, "
                  "updateRevision: b}", "waiting", "0 of 1 pods are on the new revision (partition 2)"),
    # no rollingUpdate block (an object as written, not as served): the revisions must meet
    ("{replicas: 1}", "{observedGeneration: 2, readyReplicas: 1, updatedReplicas: 1, currentRevision: a, "
                      "updateRevision: b}", "waiting", "on the new revision"),
    ("{replicas: 1}", "{observedGeneration: 2, readyReplicas: 1, updatedReplicas: 1, currentRevision: b, "
                      "updateRevision: b}", "done", "1 of 1 pods ready"),
    # "rollout status is only available for RollingUpdate strategy type"
    ("{replicas: 1, updateStrategy: {type: OnDelete}}",
     "{observedGeneration: 2, readyReplicas: 1, updatedReplicas: 0, currentRevision: a, updateRevision: b}",
     "failed", "updateStrategy OnDelete has no rollout"),
])
def test_statefulset_as_kubectl_judges_it(spec, status, state, words):
    result = readiness(sts(spec, status))
    assert (result.state, words in result.message) == (state, True), result.message


def ds(spec: str, status: str) -> dict:
    return yaml.safe_load(f"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent, generation: 4}}\n"
                          f"spec: {spec}\nstatus: {status}\n")


@pytest.mark.parametrize(("spec", "status", "state", "words"), [
    ("{}", "{observedGeneration: 3, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2}",
     "waiting", "observe generation 4"),
    ("{}", "{observedGeneration: 4, desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 2}",
     "waiting", "1 of 2 updated pods are scheduled"),
    ("{updateStrategy: {type: RollingUpdate}}",
     "{observedGeneration: 4, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1}",
     "waiting", "1 of 2 updated pods are available"),
    ("{}", "{observedGeneration: 4, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2}",
     "done", "2 of 2 pods available"),
    ("{updateStrategy: {type: OnDelete}}",
     "{observedGeneration: 4, desiredNumberScheduled: 2, updatedNumberScheduled: 0, numberAvailable: 2}",
     "failed", "updateStrategy OnDelete has no rollout"),
])
def test_daemonset_as_kubectl_judges_it(spec, status, state, words):
    result = readiness(ds(spec, status))
    assert (result.state, words in result.message) == (state, True), result.message


def job(status: str, spec: str = "{completions: 2}") -> dict:
    return yaml.safe_load(f"apiVersion: batch/v1\nkind: Job\nmetadata: {{name: migrate, generation: 1}}\n"
                          f"spec: {spec}\nstatus: {status}\n")


@pytest.mark.parametrize(("status", "state", "words"), [
    ("{}", "waiting", "0 of 2 completions"),
    ("{active: 1, succeeded: 1}", "waiting", "1 of 2 completions"),
    ("{succeeded: 2, conditions: [{type: Complete, status: 'True'}]}", "done", "completed"),
    ("{failed: 7, conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded, "
     "message: Job has reached the specified backoff limit}]}", "failed", "reached the specified backoff limit"),
    # a condition that is present but not True decides nothing
    ("{succeeded: 1, conditions: [{type: Complete, status: 'False'}]}", "waiting", "1 of 2 completions"),
])
def test_job_completes_or_fails_by_its_conditions(status, state, words):
    result = readiness(job(status))
    assert (result.state, words in result.message) == (state, True), result.message


def test_every_workload_kind_has_a_rule():
    assert all(has_rule({"apiVersion": v, "kind": k}) for v, k in
               [("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job")])
    assert not has_rule({"apiVersion": "v1", "kind": "ConfigMap"})
