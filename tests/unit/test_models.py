from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployer.config.models import Cluster, Service, parse_duration

ONPREM = {
    "name": "dc1", "provider": "onprem", "environment": "staging", "server": "https://10.0.0.1:6443",
    "ca": {"inline": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"},
    "credential": {"type": "token", "env": "TOKEN"}, "registry": "registry.local:5000/x",
    "namespaces": [{"name": "apps"}],
}


@pytest.mark.parametrize("value, seconds", [(300, 300), ("90s", 90), ("5m", 300), ("1h30m", 5400),
                                            ("2.5", 2.5)])
def test_durations(value, seconds) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5 minutes", "-3", 0, True, "1d"])
def test_bad_durations(value) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_valid_onprem_cluster_is_frozen() -> None:
    cluster = Cluster.model_validate(ONPREM)
    assert cluster.credential.env == "TOKEN"
    with pytest.raises(ValidationError):
        cluster.name = "other"


def test_token_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="set exactly one of env or file"):
        Cluster.model_validate({**ONPREM, "credential": {"type": "token", "env": "A", "file": "/x"}})


def test_env_name_must_be_a_variable_name_not_a_value() -> None:
    with pytest.raises(ValidationError):
        Cluster.model_validate({**ONPREM, "credential": {"type": "token", "env": "abc def"}})


def test_gke_subjects_are_emails() -> None:
    gke = {**ONPREM, "provider": "gke", "server": None, "ca": None,
           "gke": {"project": "acme-staging", "location": "europe-west1", "cluster": "c1"},
           "credential": {"type": "serviceAccountKey", "fileEnv": "KEY"},
           "access": [{"role": "viewer", "namespaces": ["apps"], "subjects": [{"kind": "User", "name": "bob"}]}]}
    with pytest.raises(ValidationError, match="Google email"):
        Cluster.model_validate(gke)
    gke["access"][0]["subjects"][0]["name"] = "bob@example.com"
    assert Cluster.model_validate(gke).gke.deployer_account.account_id == "deployer"


def test_service_account_subject_needs_namespace() -> None:
    with pytest.raises(ValidationError, match="needs a namespace"):
        Cluster.model_validate({**ONPREM, "access": [
            {"role": "deployer", "namespaces": ["apps"], "subjects": [{"kind": "ServiceAccount", "name": "ci"}]}]})


def test_service_defaults_and_unique_targets() -> None:
    base = {"name": "svc", "namespace": "apps", "image": {"name": "svc"},
            "environments": {"staging": {"clusters": ["a", "b"]}}}
    service = Service.model_validate(base)
    assert service.rollout.timeout == 300 and service.rollout.on_failure == "rollback-failed"
    with pytest.raises(ValidationError, match="listed twice"):
        Service.model_validate({**base, "environments": {"staging": {"clusters": ["a", "a"]}}})


SERVICE = {"name": "web", "namespace": "apps", "image": {"name": "web"},
           "environments": {"staging": {"clusters": ["c1", "c2"]}, "production": {"clusters": ["c3"]}}}


def test_environments_on_one_cluster_need_namespaces_of_their_own() -> None:
    shared = {**SERVICE, "environments": {"staging": {"clusters": ["c1"]}, "production": {"clusters": ["c2", "c1"]}}}
    with pytest.raises(ValidationError, match="environments staging and production both deploy web to cluster c1, "
                                              "namespace apps") as refused:
        Service.model_validate(shared)
    assert refused.value.errors()[0]["ctx"]["error"].path == ("environments", "production", "clusters", 1)
    apart = {**shared, "environments": {"staging": {"clusters": ["c1"]},
                                        "production": {"clusters": ["c2", "c1"], "namespace": "apps-prod"}}}
    service = Service.model_validate(apart)
    assert (service.namespace_of("staging"), service.namespace_of("production")) == ("apps", "apps-prod")


def test_an_environment_namespace_equal_to_another_environments_is_still_one_place() -> None:
    same = {**SERVICE, "environments": {"staging": {"clusters": ["c1"], "namespace": "shared"},
                                        "production": {"clusters": ["c1"], "namespace": "shared"}}}
    with pytest.raises(ValidationError, match="namespace shared"):
        Service.model_validate(same)


def test_promote_from_names_another_environment_without_a_cycle() -> None:
    def service(**sources: str) -> dict:
        envs = {"staging": {"clusters": ["c1"]}, "production": {"clusters": ["c2"]}}
        for env, source in sources.items():
            envs[env] = {**envs[env], "promoteFrom": source}
        return {**SERVICE, "environments": envs}

    assert Service.model_validate(service(production="staging")).environments["production"].promote_from == "staging"
    for wrong, says in (({"production": "qa"}, "another environment of web (its others: staging)"),
                        ({"production": "production"}, "another environment"),
                        ({"production": "staging", "staging": "production"}, "makes a cycle")):
        with pytest.raises(ValidationError) as refused:
            Service.model_validate(service(**wrong))
        assert says in str(refused.value)
        assert refused.value.errors()[0]["ctx"]["error"].path[-1] == "promoteFrom"


@pytest.mark.parametrize(("value", "says"), [
    (float("nan"), "finite"), (float("inf"), "finite"), (10**400, "at most a week"), ("9" * 400, "not a duration"),
    (604801, "at most a week"), ("200h", "at most a week"),
])
def test_durations_that_would_never_end_are_refused(value, says) -> None:
    with pytest.raises(ValueError, match=says):
        parse_duration(value)


def test_a_week_is_the_longest_duration() -> None:
    assert parse_duration("168h") == 604800


@pytest.mark.parametrize("key", ["a" * 64, "Bad_Prefix/x", "example.com/" + "a" * 64, "-x", "x/", "/x",
                                 ("a" * 250) + ".com/x", "a/b/c"])
def test_label_keys_kubernetes_refuses_are_refused(key) -> None:
    with pytest.raises(ValidationError, match="label key"):
        Cluster.model_validate({**ONPREM, "labels": {key: "v"}})


@pytest.mark.parametrize("key", ["a" * 63, "app.kubernetes.io/name", "team", "x.y-z_w", "example.com/a.b"])
def test_label_keys_kubernetes_accepts_are_accepted(key) -> None:
    assert key in Cluster.model_validate({**ONPREM, "labels": {key: "v"}}).labels
