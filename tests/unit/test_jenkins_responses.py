"""Reading Jenkins' answers (deployer/jenkins/responses.py) from recorded shapes of its remote API.

The shapes are those Jenkins' own classes export (the @Exported getters; the module docstring of
responses.py names each source file): hudson/model/Queue.java for queue items (WaitingItem,
BlockedItem, BuildableItem, LeftItem), hudson/model/Run.java and Result.java for builds
(org.jenkinsci.plugins.workflow.job.WorkflowRun for a pipeline), CrumbIssuer.java for the crumb,
AnnotatedLargeText / Stapler's LargeText.doProgressiveText for the console headers. Fields the
executor does not read (actions, changeSets, ...) are trimmed to a few, as Jenkins would send them.
"""

from __future__ import annotations

import pytest
from requests.structures import CaseInsensitiveDict

from deployer.jenkins import responses
from deployer.jenkins.responses import UnexpectedResponse

JOB = "http://jenkins.example.internal/job/deploy/job/hello/"
TASK = {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "hello", "url": JOB, "color": "blue"}

QUEUE_WAITING = {  # Queue$WaitingItem: in the quiet period
    "_class": "hudson.model.Queue$WaitingItem", "actions": [{"_class": "hudson.model.ParametersAction"}],
    "blocked": False, "buildable": False, "id": 7, "inQueueSince": 1764420000000,
    "params": "\nSERVICE=hello\nENVIRONMENT=staging", "stuck": False, "task": TASK,
    "url": "queue/item/7/", "why": "In the quiet period. Expires in 4.9 sec", "timestamp": 1764420005000}
QUEUE_BLOCKED = {  # Queue$BlockedItem: the job does not run concurrent builds
    "_class": "hudson.model.Queue$BlockedItem", "actions": [], "blocked": True, "buildable": False, "id": 8,
    "inQueueSince": 1764420000000, "params": "", "stuck": False, "task": TASK, "url": "queue/item/8/",
    "why": "Build #41 is already in progress (ETA: 1 min 2 sec)"}
QUEUE_BUILDABLE = {  # Queue$BuildableItem: waiting for an executor
    "_class": "hudson.model.Queue$BuildableItem", "actions": [], "blocked": False, "buildable": True, "id": 9,
    "inQueueSince": 1764420000000, "params": "", "stuck": True, "task": TASK, "url": "queue/item/9/",
    "why": "Waiting for next available executor on 'deployer'", "buildableStartMilliseconds": 1764420005000,
    "pending": False}
QUEUE_CANCELLED = {  # Queue$LeftItem of a cancelled item: no executable
    "_class": "hudson.model.Queue$LeftItem", "actions": [], "blocked": False, "buildable": False, "id": 10,
    "inQueueSince": 1764420000000, "params": "", "stuck": False, "task": TASK, "url": "queue/item/10/",
    "why": None, "cancelled": True, "executable": None}
QUEUE_LEAVING = {**QUEUE_CANCELLED, "id": 11, "url": "queue/item/11/", "cancelled": False}
QUEUE_STARTED = {  # Queue$LeftItem once the build started
    **QUEUE_CANCELLED, "id": 12, "url": "queue/item/12/", "cancelled": False,
    "executable": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": 42, "url": JOB + "42/"}}

BUILD_RUNNING = {
    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "actions": [], "artifacts": [], "building": True,
    "description": "deploy hello to staging", "displayName": "#42", "duration": 0, "estimatedDuration": 61000,
    "executor": {}, "fullDisplayName": "deploy » hello #42", "id": "42", "keepLog": False, "number": 42,
    "queueId": 12, "result": None, "timestamp": 1764420006000, "url": JOB + "42/", "changeSets": [],
    "culprits": [], "inProgress": True, "nextBuild": None, "previousBuild": {"number": 41, "url": JOB + "41/"}}
REPORT = {"displayPath": "deployer-deploy-staging.json", "fileName": "deployer-deploy-staging.json",
          "relativePath": "deployer-deploy-staging.json"}
JUNIT = {"displayPath": "deployer-deploy-staging.junit.xml", "fileName": "deployer-deploy-staging.junit.xml",
         "relativePath": "deployer-deploy-staging.junit.xml"}
BUILD_SUCCESS = {**BUILD_RUNNING, "building": False, "inProgress": False, "result": "SUCCESS", "duration": 58211,
                 "executor": None, "artifacts": [REPORT, JUNIT]}
BUILD_FAILURE = {**BUILD_SUCCESS, "result": "FAILURE"}
BUILD_ABORTED = {**BUILD_SUCCESS, "result": "ABORTED", "artifacts": [REPORT]}
BUILD_UNSTABLE = {**BUILD_SUCCESS, "result": "UNSTABLE"}


@pytest.mark.parametrize(("doc", "status", "why"), [
    (QUEUE_WAITING, "waiting", "In the quiet period. Expires in 4.9 sec"),
    (QUEUE_BLOCKED, "blocked", "Build #41 is already in progress (ETA: 1 min 2 sec)"),
    (QUEUE_BUILDABLE, "buildable", "Waiting for next available executor on 'deployer'"),
    (QUEUE_CANCELLED, "cancelled", None),
    (QUEUE_LEAVING, "leaving", None),
])
def test_a_queue_item_that_has_not_started_says_why(doc, status, why):
    item = responses.read_queue_item(doc)
    assert (item.status, item.why, item.build_url, item.build_number) == (status, why, None, None)


def test_a_started_queue_item_names_its_build():
    item = responses.read_queue_item(QUEUE_STARTED)
    assert (item.status, item.build_url, item.build_number) == ("started", JOB + "42/", 42)


def test_a_queue_item_of_no_known_shape_is_refused():
    with pytest.raises(UnexpectedResponse):
        responses.read_queue_item({"_class": "hudson.model.Queue$Item", "id": 3})
    with pytest.raises(UnexpectedResponse):
        responses.read_queue_item(["not", "an", "object"])


def test_a_running_build_has_no_result_and_no_duration_yet():
    build = responses.read_build(BUILD_RUNNING)
    assert (build.building, build.result, build.finished, build.duration_ms) == (True, None, False, None)
    assert (build.number, build.url, build.timestamp_ms) == (42, JOB + "42/", 1764420006000)


@pytest.mark.parametrize(("doc", "result"), [
    (BUILD_SUCCESS, "SUCCESS"), (BUILD_FAILURE, "FAILURE"), (BUILD_ABORTED, "ABORTED"), (BUILD_UNSTABLE, "UNSTABLE")])
def test_a_finished_build_has_its_result_and_artifacts(doc, result):
    build = responses.read_build(doc)
    assert (build.finished, build.result, build.duration_ms) == (True, result, 58211)
    assert build.artifacts[0] == responses.Artifact("deployer-deploy-staging.json", "deployer-deploy-staging.json")


def test_a_build_that_stopped_building_but_has_no_result_yet_is_not_finished():
    # Jenkins writes the result a moment after the build leaves its executor.
    assert not responses.read_build({**BUILD_SUCCESS, "result": None}).finished


def test_a_build_with_an_unknown_result_or_missing_fields_is_refused():
    with pytest.raises(UnexpectedResponse, match="unknown result"):
        responses.read_build({**BUILD_SUCCESS, "result": "GREEN"})
    with pytest.raises(UnexpectedResponse, match="url, number or building"):
        responses.read_build({k: v for k, v in BUILD_SUCCESS.items() if k != "building"})
    with pytest.raises(UnexpectedResponse, match="relativePath"):
        responses.read_build({**BUILD_SUCCESS, "artifacts": [{"fileName": "x"}]})


def test_the_console_goes_on_from_x_text_size_while_x_more_data_says_so():
    running = responses.read_console(b"+ deployer validate\n", CaseInsensitiveDict(
        {"X-Text-Size": "120", "X-More-Data": "true", "Content-Type": "text/plain;charset=UTF-8"}), 100)
    assert (running.next_start, running.more) == (120, True)
    # The last chunk of a finished build: no X-More-Data header at all.
    done = responses.read_console(b"Finished: SUCCESS\n", CaseInsensitiveDict({"x-text-size": "138"}), 120)
    assert (done.next_start, done.more, done.data) == (138, False, b"Finished: SUCCESS\n")
    assert responses.read_console(b"abc", CaseInsensitiveDict(), 5).next_start == 8


def test_a_console_offset_that_goes_backwards_or_is_not_a_number_is_refused():
    with pytest.raises(UnexpectedResponse, match="before the offset"):
        responses.read_console(b"", CaseInsensitiveDict({"X-Text-Size": "10"}), 20)
    with pytest.raises(UnexpectedResponse, match="not a number"):
        responses.read_console(b"", CaseInsensitiveDict({"X-Text-Size": "ten"}), 0)


def test_lines_are_cut_across_chunks_even_inside_a_utf8_character():
    lines = responses.LineSplitter()
    text = "étape 1\r\nétape 2\n".encode()
    assert lines.feed(text[:1]) == []          # half of "é"
    assert lines.feed(text[1:12]) == ["étape 1"]
    assert lines.feed(text[12:]) == ["étape 2"]
    assert lines.feed(b"no newline yet") == [] and lines.flush() == ["no newline yet"] and lines.flush() == []


def test_the_crumb_and_its_header():
    crumb = responses.read_crumb({"_class": "hudson.security.csrf.DefaultCrumbIssuer",
                                  "crumb": "4c1a6e0f1a2b3c4d", "crumbRequestField": "Jenkins-Crumb"})
    assert crumb == responses.Crumb("Jenkins-Crumb", "4c1a6e0f1a2b3c4d")
    with pytest.raises(UnexpectedResponse):
        responses.read_crumb({"crumbRequestField": "Jenkins-Crumb"})


def test_the_queue_item_location_of_build_with_parameters():
    assert responses.queue_item_url("http://jenkins.example.internal/queue/item/7/") == \
        "http://jenkins.example.internal/queue/item/7/"
    assert responses.queue_item_url("http://j/ci/queue/item/7") == "http://j/ci/queue/item/7/"
    assert responses.queue_item_id("http://j/ci/queue/item/7/") == 7
    for bad in (None, "", "http://j/job/deploy/job/hello/", "http://j/queue/item/seven/"):
        with pytest.raises(UnexpectedResponse):
            responses.queue_item_url(bad)


def test_jobs_in_folders_and_the_token_stays_on_jenkins():
    assert responses.job_path("deploy/hello") == "job/deploy/job/hello/"
    assert responses.job_path("a b") == "job/a%20b/"
    assert responses.same_origin(JOB + "42/", "http://jenkins.example.internal/")
    assert responses.same_origin("https://ci.example/jenkins/job/x/1/", "https://ci.example/jenkins/")
    assert not responses.same_origin("https://ci.example/other/job/x/1/", "https://ci.example/jenkins/")
    assert not responses.same_origin("http://evil.example/job/x/", "http://jenkins.example.internal/")
    assert not responses.same_origin("http://jenkins.example.internal:8080/job/x/", "http://jenkins.example.internal/")
    assert not responses.same_origin("http://jenkins.example.internal/job/x/", "https://jenkins.example.internal/")


# wfapi/pendingInputActions (jenkinsci/pipeline-stage-view-plugin, rest-api: PendingInputActionsExt /
# InputActionExt): URLs relative to Jenkins' root; the id is InputStep.getId's default (the message's
# MD5, capitalised); inputs lists the input's parameters (none for deployerPipeline.approve).
PENDING_INPUTS = [{
    "id": "C7bae4b53ca040c039cb8987abc00a65", "proceedText": "Promote to production",
    "message": "Promote hello to production?", "inputs": [],
    "proceedUrl": "/job/deploy/job/hello/42/wfapi/inputSubmit?inputId=C7bae4b53ca040c039cb8987abc00a65",
    "abortUrl": "/job/deploy/job/hello/42/input/C7bae4b53ca040c039cb8987abc00a65/abort",
    "redirectApprovalUrl": "/job/deploy/job/hello/42/input/"}]


def test_a_pending_input_names_its_question_and_where_to_approve_it():
    [pending] = responses.read_pending_inputs(PENDING_INPUTS, JOB + "42/")
    assert pending.id == "C7bae4b53ca040c039cb8987abc00a65"
    assert (pending.message, pending.proceed_text) == ("Promote hello to production?", "Promote to production")
    assert pending.approve_url == JOB + "42/input/"
    assert responses.read_pending_inputs([], JOB + "42/") == ()
    no_text = [{k: v for k, v in PENDING_INPUTS[0].items() if k != "proceedText"}]
    assert responses.read_pending_inputs(no_text, JOB + "42/")[0].proceed_text == "Proceed"


@pytest.mark.parametrize("doc", [{"id": "x"}, [{"message": "m"}], [{"id": "../../stop", "message": "m"}], ["x"]])
def test_pending_inputs_of_another_shape_or_with_an_id_that_is_a_path_are_refused(doc):
    with pytest.raises(UnexpectedResponse):
        responses.read_pending_inputs(doc, JOB + "42/")
