"""Translating API server refusals into deployer's errors, from the Status bodies servers send."""

from __future__ import annotations

import json

from deployer.errors import ApiError, ExitCode
from deployer.kube.errors import api_error

# What kube-apiserver 1.34 answered the strict dry-run apply of a Deployment with a misspelled
# container field (tests/integration/test_preflight_refusals.py sends it).
UNDECLARED_FIELD = json.dumps({
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 500,
    "message": 'failed to create typed patch object (apps/web-31eff6; apps/v1, Kind=Deployment): '
               '.spec.template.spec.containers[name="web"].imagePullPolicyy: field not declared in schema',
}).encode()


def test_a_field_the_schema_does_not_declare_is_an_invalid_object_not_an_unwell_server() -> None:
    error = api_error("local-gke", "dry-run apply Deployment apps/web", 500, UNDECLARED_FIELD)

    assert isinstance(error, ApiError) and error.exit_code == ExitCode.API_REJECTED
    assert error.message == ('cluster local-gke: dry-run apply Deployment apps/web failed: the object has an unknown '
                             'field: .spec.template.spec.containers[name="web"].imagePullPolicyy: field not declared '
                             'in schema')
    assert "template" in error.hint and "overloaded" not in error.hint


def test_any_other_500_is_still_the_server_failing() -> None:
    body = json.dumps({"kind": "Status", "code": 500, "message": "etcdserver: request timed out"}).encode()
    error = api_error("local-gke", "apply Deployment apps/web", 500, body)

    assert isinstance(error, ApiError)
    assert "could not serve it (HTTP 500): etcdserver: request timed out" in error.message
    assert "overloaded or unwell" in error.hint
