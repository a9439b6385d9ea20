"""Tests of the local AWS fakes in test/fakes/, driven by botocore (the judge).

These prove that what botocore sends is accepted, that what the fakes answer parses in
botocore and matches the service models, and that every steering knob works.  They need no C
binaries (no `bindir` fixture).
"""
import hashlib
import http.client
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import botocore.exceptions
import botocore.session
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ContainerProvider, Credentials
from botocore.utils import InstanceMetadataFetcher
from botocore.validate import ParamValidator

FAKES = pathlib.Path(__file__).resolve().parents[1] / "fakes"
sys.path.insert(0, str(FAKES))

import common  # noqa: E402
import fake_container_creds  # noqa: E402
import fake_ecs  # noqa: E402
import fake_imds  # noqa: E402
import fake_s3  # noqa: E402
import fake_sts  # noqa: E402

AK, SK = "AKIDPOKYTEST", "pokySecretKey"
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
NETCFG = {"awsvpcConfiguration": {"subnets": ["subnet-0abc"], "assignPublicIp": "DISABLED"}}
FAST = [["PENDING", 0.05], ["RUNNING", 0.1], ["STOPPED", 0.2]]
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


# --------------------------------------------------------------------------- helpers

class Fake:
    def __init__(self, server):
        self.server = server
        self.app = server.app
        self.port = server.port
        self.url = "http://127.0.0.1:%d" % server.port

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_fake/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def config(self, **kw):
        return self.ctl("POST", "config", kw)

    def faults(self, op, *faults):
        return self.ctl("POST", "faults", {"op": op, "faults": list(faults)})

    def calls(self):
        return self.ctl("GET", "calls")


def _fixture(module):
    @pytest.fixture(scope="module")
    def server():
        srv, _thread, _port = module.start(port=0)
        yield srv
        common.stop(srv)
    return server


_ecs_server = _fixture(fake_ecs)
_sts_server = _fixture(fake_sts)
_imds_server = _fixture(fake_imds)
_cc_server = _fixture(fake_container_creds)
_s3_server = _fixture(fake_s3)


def _fresh(server):
    fake = Fake(server)
    fake.ctl("POST", "reset")
    return fake


@pytest.fixture
def ecs(_ecs_server):
    return _fresh(_ecs_server)


@pytest.fixture
def sts(_sts_server):
    return _fresh(_sts_server)


@pytest.fixture
def imds(_imds_server):
    return _fresh(_imds_server)


@pytest.fixture
def ccreds(_cc_server):
    return _fresh(_cc_server)


S3_BUCKETS = {"plain": {"encryption": None}, "kms": {"encryption": "aws:kms"},
              "sse-s3": {"encryption": "AES256"}}


@pytest.fixture
def s3fake(_s3_server):
    fake = _fresh(_s3_server)
    fake.config(buckets=S3_BUCKETS)
    return fake


def client(service, fake, ak=AK, sk=SK, token=None, **cfg):
    config = NO_RETRY.merge(Config(**cfg)) if cfg else NO_RETRY
    return botocore.session.get_session().create_client(
        service, endpoint_url=fake.url, region_name="us-east-1", aws_access_key_id=ak,
        aws_secret_access_key=sk, aws_session_token=token, config=config)


def signed(fake, op, body, ak=AK, sk=SK, token=None, content_type="application/x-amz-json-1.1",
           raw=None, timeout=5, service="ecs", region="us-east-1"):
    """A raw ECS request signed by botocore's SigV4Auth (for what the ECS client of this old
    botocore cannot send: clientToken, bogus fields)."""
    data = raw if raw is not None else json.dumps(body).encode()
    req = AWSRequest(method="POST", url=fake.url + "/", data=data,
                     headers={"Content-Type": content_type, "X-Amz-Target": ECS_TARGET + op})
    SigV4Auth(Credentials(ak, sk, token), service, region).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        conn.request("POST", "/", body=data, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        text = resp.read()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def run_body(**kw):
    body = {"cluster": "poky-cluster", "taskDefinition": "poky-worker:3", "launchType": "FARGATE",
            "networkConfiguration": NETCFG, "startedBy": "poky-job-1",
            "overrides": {"containerOverrides": [{"name": "worker", "command": ["run", "1"]}]}}
    body.update(kw)
    return body


def ecs_model():
    return fake_ecs.service_model()


def assert_output_shape(op, result):
    result = {k: v for k, v in result.items() if k != "ResponseMetadata"}
    shape = ecs_model().operation_model(op).output_shape
    report = ParamValidator().validate(result, shape)
    assert not report.has_errors(), report.generate_report()


def err_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


# --------------------------------------------------------------------------- ECS: happy paths

def test_ecs_happy_path_with_botocore_client(ecs):
    ecs.config(progression=FAST, exit_code=0)
    c = client("ecs", ecs)
    run = c.run_task(**run_body(tags=[{"key": "job", "value": "1"}]))
    assert run["failures"] == []
    task = run["tasks"][0]
    arn = task["taskArn"]
    assert arn.startswith("arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/")
    assert len(arn.rsplit("/", 1)[1]) == 32
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    assert task["launchType"] == "FARGATE" and task["group"] == "family:poky-worker"
    assert task["overrides"]["containerOverrides"][0]["command"] == ["run", "1"]
    assert task["containers"][0]["name"] == "worker"
    assert task["containers"][0]["lastStatus"] == "PENDING"
    assert task["startedBy"] == "poky-job-1"
    assert task["taskDefinitionArn"].endswith(":task-definition/poky-worker:3")
    assert_output_shape("RunTask", run)

    listed = c.list_tasks(cluster="poky-cluster", startedBy="poky-job-1")
    assert listed["taskArns"] == [arn]
    assert_output_shape("ListTasks", listed)

    time.sleep(0.3)
    desc = c.describe_tasks(cluster="poky-cluster", tasks=[arn], include=["TAGS"])
    t = desc["tasks"][0]
    assert t["lastStatus"] == "STOPPED" and t["desiredStatus"] == "STOPPED"
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["containers"][0]["exitCode"] == 0
    for key in ("createdAt", "pullStartedAt", "startedAt", "stoppingAt", "stoppedAt"):
        assert key in t, key
    assert t["tags"] == [{"key": "job", "value": "1"}]
    assert_output_shape("DescribeTasks", desc)

    stop = c.stop_task(cluster="poky-cluster", task=arn, reason="done")
    assert stop["task"]["taskArn"] == arn
    assert_output_shape("StopTask", stop)

    calls = ecs.calls()
    assert [x["op"] for x in calls] == ["RunTask", "ListTasks", "DescribeTasks", "StopTask"]
    assert all(x["signature_ok"] is True for x in calls)
    assert calls[0]["headers"]["authorization"] == "<redacted>"
    assert calls[0]["body"]["taskDefinition"] == "poky-worker:3"
    assert "host" in calls[0]["signed_headers"]


def test_ecs_stop_task_user_initiated(ecs):
    ecs.config(progression=[["PENDING", 0.01], ["RUNNING", 0.02]])
    c = client("ecs", ecs)
    arn = c.run_task(**run_body())["tasks"][0]["taskArn"]
    time.sleep(0.05)
    assert c.describe_tasks(cluster="poky-cluster", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
    t = c.stop_task(cluster="poky-cluster", task=arn.rsplit("/", 1)[1], reason="poky timeout")["task"]
    assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "UserInitiated"
    assert t["stoppedReason"] == "poky timeout"
    assert t["containers"][0]["exitCode"] == 143
    stops = ecs.ctl("GET", "stops")
    assert stops[0]["taskArn"] == arn and stops[0]["reason"] == "poky timeout"
    assert c.list_tasks(cluster="poky-cluster")["taskArns"] == []
    assert c.list_tasks(cluster="poky-cluster", desiredStatus="STOPPED")["taskArns"] == [arn]


def test_ecs_keep_alive_reuses_connection(ecs):
    c = client("ecs", ecs)
    for _ in range(3):
        c.list_tasks(cluster="default")
    peers = {x["peer"] for x in ecs.calls()}
    assert len(peers) == 1


# --------------------------------------------------------------------------- ECS: signatures

def test_ecs_wrong_secret_is_invalid_signature(ecs):
    c = client("ecs", ecs, sk="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.list_tasks()
    assert err_code(exc) == "InvalidSignatureException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "The Canonical String for this request should have been" in str(exc.value)
    assert ecs.calls()[0]["signature_ok"] is False


def test_ecs_unknown_key_and_session_tokens(ecs):
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs, ak="AKIDUNKNOWN").list_tasks()
    assert err_code(exc) == "UnrecognizedClientException"

    ecs.config(credentials={AK: SK, "ASIATEMP": "tempSecret"}, session_tokens={"ASIATEMP": "tok+/="})
    assert client("ecs", ecs, ak="ASIATEMP", sk="tempSecret", token="tok+/=").list_tasks()["taskArns"] == []
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs, ak="ASIATEMP", sk="tempSecret").list_tasks()
    assert err_code(exc) == "UnrecognizedClientException"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs, ak="ASIATEMP", sk="tempSecret", token="other").list_tasks()
    assert err_code(exc) == "UnrecognizedClientException"
    tokcall = ecs.calls()[1]
    assert tokcall["headers"]["x-amz-security-token"] == "<redacted>"
    assert "x-amz-security-token" in tokcall["signed_headers"]


def test_ecs_wrong_region_or_service_scope(ecs):
    st, _, body = signed(ecs, "ListTasks", {}, region="eu-west-1")
    assert st == 400 and body["__type"] == "InvalidSignatureException"
    assert "Credential should be scoped to a valid region" in body["message"]
    st, _, body = signed(ecs, "ListTasks", {}, service="ec2")
    assert st == 400 and "Credential should be scoped to correct service" in body["message"]


def test_ecs_clock_skew_rejected_and_date_header_shows_fake_clock(ecs):
    ecs.config(clock_skew_seconds=3600)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs).list_tasks()
    assert err_code(exc) == "InvalidSignatureException"
    assert "Signature expired" in exc.value.response["Error"]["Message"]
    date = exc.value.response["ResponseMetadata"]["HTTPHeaders"]["date"]
    from email.utils import parsedate_to_datetime
    skew = parsedate_to_datetime(date).timestamp() - time.time()
    assert 3590 < skew < 3610
    ecs.config(clock_skew_seconds=-3600)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs).list_tasks()
    assert "Signature not yet current" in exc.value.response["Error"]["Message"]
    ecs.config(clock_skew_seconds=120)           # within 5 minutes: fine
    client("ecs", ecs).list_tasks()


# --------------------------------------------------------------------------- ECS: validation

def test_ecs_model_validation_rejects_bad_requests(ecs):
    st, hdrs, body = signed(ecs, "RunTask", run_body(bogusField=1))
    assert st == 400 and body["__type"] == "InvalidParameterException"
    assert "bogusField" in body["message"]
    assert "x-amzn-requestid" in hdrs and "date" in hdrs
    st, _, body = signed(ecs, "RunTask", run_body(launchType="FARGATE_SPOT"))
    assert st == 400 and "launchType" in body["message"]            # not an enum value
    st, _, body = signed(ecs, "RunTask", run_body(count="2"))
    assert st == 400 and "count" in body["message"]                 # wrong type
    st, _, body = signed(ecs, "RunTask", run_body(count=11))
    assert st == 400 and body["__type"] == "InvalidParameterException"
    st, _, body = signed(ecs, "RunTask", run_body(
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}]))
    assert st == 400 and "launch type and capacity provider" in body["message"]
    big = {"containerOverrides": [{"name": "w", "environment": [{"name": "X", "value": "y" * 9000}]}]}
    st, _, body = signed(ecs, "RunTask", run_body(overrides=big))
    assert st == 400 and "8192" in body["message"]
    st, _, body = signed(ecs, "RunTask", run_body(clientToken="x" * 65))
    assert st == 400 and "clientToken" in body["message"]
    no_net = run_body()
    del no_net["networkConfiguration"]
    st, _, body = signed(ecs, "RunTask", no_net)
    assert st == 400 and "Network Configuration" in body["message"]
    st, _, body = signed(ecs, "DescribeTasks", {"tasks": ["t%d" % i for i in range(101)]})
    assert st == 400 and "100" in body["message"]
    st, _, body = signed(ecs, "ListTasks", {"startedBy": "x", "family": "poky-worker"})
    assert st == 400 and "only filter" in body["message"]
    assert ecs.ctl("GET", "launches")["total_tasks_created"] == 0


def test_ecs_protocol_errors(ecs):
    st, _, body = signed(ecs, "ListTasks", {}, content_type="application/json")
    assert st == 400 and body["__type"] == "SerializationException"
    st, _, body = signed(ecs, "CreateCluster", {})
    assert st == 400 and body["__type"] == "UnknownOperationException"
    st, _, body = signed(ecs, "ListTasks", None, raw=b"{not json")
    assert st == 400 and body["__type"] == "SerializationException"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs).list_tasks(cluster="nope")
    assert err_code(exc) == "ClusterNotFoundException"
    ecs.config(task_definitions={"poky-worker:3": {"containers": ["worker"]}})
    st, _, body = signed(ecs, "RunTask", run_body(taskDefinition="other:1"))
    assert st == 400 and body["__type"] == "ClientException"
    st, _, body = signed(ecs, "RunTask", run_body(
        overrides={"containerOverrides": [{"name": "sidecar"}]}))
    assert st == 400 and "not a container" in body["message"]
    ecs.config(error_type_prefix="com.amazonaws.ecs#", error_message_key="Message")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs).list_tasks(cluster="nope")
    assert err_code(exc) == "ClusterNotFoundException"            # botocore strips the prefix
    st, _, body = signed(ecs, "ListTasks", {"cluster": "nope"})
    assert body == {"__type": "com.amazonaws.ecs#ClusterNotFoundException",
                    "Message": "Cluster not found."}


# --------------------------------------------------------------------------- ECS: idempotency

def test_ecs_client_token_idempotency(ecs):
    body = run_body(clientToken="poky-7f3a-attempt-token")
    st, _, first = signed(ecs, "RunTask", body)
    assert st == 200, first
    st, _, again = signed(ecs, "RunTask", body)
    assert st == 200
    assert again["tasks"][0]["taskArn"] == first["tasks"][0]["taskArn"]
    launches = ecs.ctl("GET", "launches")
    assert launches["total_tasks_created"] == 1
    assert launches["by_client_token"] == {"poky-7f3a-attempt-token": 1}
    st, _, conflict = signed(ecs, "RunTask", dict(body, startedBy="other"))
    assert st == 400 and conflict["__type"] == "ConflictException"
    st, _, other = signed(ecs, "RunTask", run_body(clientToken="another-token"))
    assert other["tasks"][0]["taskArn"] != first["tasks"][0]["taskArn"]
    assert ecs.ctl("GET", "launches")["total_tasks_created"] == 2


def test_ecs_lost_response_then_retry_with_same_token(ecs):
    ecs.faults("RunTask", {"reset": True, "after_processing": True})
    body = run_body(clientToken="lost-response-token")
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        signed(ecs, "RunTask", body)
    st, _, again = signed(ecs, "RunTask", body)
    assert st == 200 and len(again["tasks"]) == 1
    launches = ecs.ctl("GET", "launches")
    assert launches["total_tasks_created"] == 1
    assert launches["by_client_token"]["lost-response-token"] == 1


# --------------------------------------------------------------------------- ECS: faults

def test_ecs_fault_500_then_success(ecs):
    ecs.faults("RunTask", {"status": 500})
    c = client("ecs", ecs)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.run_task(**run_body())
    assert err_code(exc) == "ServerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(c.run_task(**run_body())["tasks"]) == 1
    assert ecs.ctl("GET", "launches")["total_tasks_created"] == 1
    assert [x["status"] for x in ecs.calls()] == [500, 200]


def test_ecs_fault_throttling_with_retry_after_and_wildcard(ecs):
    ecs.faults("*", {"status": 400, "type": "ThrottlingException", "message": "Rate exceeded",
                     "headers": {"x-amz-retry-after": "100"}}, {"status": 503})
    c = client("ecs", ecs)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.list_tasks()
    assert err_code(exc) == "ThrottlingException"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-retry-after"] == "100"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.describe_tasks(tasks=["abc"])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert c.list_tasks()["taskArns"] == []


def test_ecs_fault_reset_delay_body_partial(ecs):
    c = client("ecs", ecs)
    ecs.faults("ListTasks", {"reset": True})
    with pytest.raises((botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.HTTPClientError)):
        c.list_tasks()
    ecs.faults("ListTasks", {"reset": "rst"})
    with pytest.raises((botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.HTTPClientError)):
        c.list_tasks()
    ecs.faults("ListTasks", {"delay": 0.4})
    t0 = time.monotonic()
    assert c.list_tasks()["taskArns"] == []
    assert time.monotonic() - t0 >= 0.4
    ecs.faults("ListTasks", {"body": '{"taskArns": ["arn:aws:ecs:', "status": 200})
    st, _, raw = signed(ecs, "ListTasks", {})
    assert st == 200 and raw == b'{"taskArns": ["arn:aws:ecs:'
    ecs.faults("ListTasks", {"partial": True})
    with pytest.raises(http.client.IncompleteRead):
        signed(ecs, "ListTasks", {})
    with pytest.raises(urllib.error.HTTPError):
        ecs.faults("ListTasks", {"statuss": 500})       # typo in a fault key is refused
    assert c.list_tasks()["taskArns"] == []


# --------------------------------------------------------------------------- ECS: lifecycle

# --------------------------------------------------------------------------- steady latency, throttling

def test_ecs_throttle_answers_as_ecs_does_and_botocore_sees_throttling(ecs):
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker
    ecs.config(throttle={"RunTask": {"rate": 0.5, "burst": 2}})
    for i in range(2):
        st, _, ok = signed(ecs, "RunTask", run_body(clientToken="tok-%d" % i))
        assert st == 200 and len(ok["tasks"]) == 1, ok
    # The bucket is empty: ECS's own answer, which botocore parses and classifies.
    st, headers, raw = signed(ecs, "RunTask", run_body(clientToken="tok-2"))
    assert st == 400 and headers["content-type"] == "application/x-amz-json-1.1"
    assert raw == {"__type": "ThrottlingException", "message": "Rate exceeded"}
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs).run_task(**run_body())
    assert err_code(exc) == "ThrottlingException"
    assert exc.value.response["Error"]["Message"] == "Rate exceeded"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ctx = RetryContext(attempt_number=1, parsed_response=exc.value.response)
    assert ThrottledRetryableChecker().is_retryable(ctx)
    # Only RunTask has a bucket; a throttled call launches nothing and is counted.
    assert client("ecs", ecs).list_tasks(cluster="poky-cluster")["taskArns"]
    st, _, _ = signed(ecs, "RunTask", run_body(clientToken="tok-2"))
    assert st == 400
    assert set(ecs.ctl("GET", "launches")) == {"total_tasks_created", "by_client_token",
                                               "run_task_calls_creating_tasks"}
    launches = ecs.ctl("GET", "launches?calls=1")
    assert launches["total_tasks_created"] == 2
    assert launches["run_task_calls"] == 5 and launches["run_task_throttled"] == 3
    assert launches["calls_by_client_token"] == {"tok-0": 1, "tok-1": 1, "tok-2": 2}
    assert launches["by_client_token"] == {"tok-0": 1, "tok-1": 1}
    assert launches["double_launches"] == 0
    assert ecs.ctl("GET", "throttles")["throttled"] == {"RunTask": 3}
    calls = ecs.calls()
    assert [c.get("throttled", False) for c in calls if c["op"] == "RunTask"] == \
        [False, False, True, True, True]
    # reset refills the bucket and clears the counts; the initial config has no throttle.
    ecs.ctl("POST", "reset")
    assert ecs.ctl("GET", "throttles") == {"throttled": {}, "tokens": {}}
    assert signed(ecs, "RunTask", run_body())[0] == 200


def test_ecs_throttle_bucket_refills_at_its_rate(ecs):
    rate, burst = 10.0, 3
    ecs.config(throttle={"RunTask": {"rate": rate, "burst": burst}})
    c = client("ecs", ecs)
    ok = refused = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        try:
            c.run_task(**run_body())
            ok += 1
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException"
            refused += 1
    elapsed = time.monotonic() - t0
    # burst at once, then rate per second: never more, and (tokens are never wasted while
    # the bucket is below burst) never fewer than one less.
    expected = burst + rate * elapsed
    assert expected - 1.5 <= ok <= expected + 1, (ok, expected, refused)
    assert refused > 0
    launches = ecs.ctl("GET", "launches?calls=1")
    assert launches["total_tasks_created"] == ok
    assert launches["run_task_throttled"] == refused
    # A new throttle config starts with a full bucket.
    ecs.config(throttle={"RunTask": {"rate": 1, "burst": 2}})
    assert ecs.ctl("GET", "throttles")["tokens"]["RunTask"] == pytest.approx(2, abs=0.01)


def test_ecs_latency_overlaps_across_64_concurrent_requests(ecs):
    import threading
    latency, n = 0.5, 64
    ecs.config(latency={"ListTasks": latency, "RunTask": 2.0})
    took, errors = [], []
    barrier = threading.Barrier(n)

    def one():
        try:
            barrier.wait(timeout=10)
            t = time.monotonic()
            st, _, body = signed(ecs, "ListTasks", {"cluster": "poky-cluster"}, timeout=30)
            assert st == 200, body
            took.append(time.monotonic() - t)
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=one) for _ in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    # While 64 requests sleep, control requests are answered at once.
    time.sleep(0.1)
    t_ctl = time.monotonic()
    assert ecs.ctl("GET", "health")["ok"]
    assert time.monotonic() - t_ctl < latency / 2
    for t in threads:
        t.join(30)
    wall = time.monotonic() - t0
    assert not errors, errors[:3]
    assert len(took) == n
    assert min(took) >= latency
    # Serialised they would take n * latency = 32 s; overlapping, about one latency.
    assert wall < latency * 6, wall
    assert ecs.ctl("GET", "counts")["ListTasks"] == n


def test_latency_and_throttle_on_s3_and_bad_config(s3fake):
    s3fake.config(latency={"HeadBucket": 0.3})
    c = s3_client(s3fake)
    t = time.monotonic()
    c.head_bucket(Bucket="plain")
    assert time.monotonic() - t >= 0.3
    t = time.monotonic()
    c.list_objects_v2(Bucket="plain")           # other ops: no latency
    assert time.monotonic() - t < 0.3
    s3fake.config(latency={"*": 0}, throttle={"ListObjectsV2": {"rate": 0.1, "burst": 1}})
    c.list_objects_v2(Bucket="plain")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.list_objects_v2(Bucket="plain")
    assert err_code(exc) == "SlowDown"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    for bad in ({"latency": {"RunTask": -1}}, {"latency": {"RunTask": "x"}},
                {"latency": [0.3]}, {"throttle": {"RunTask": {"rate": 0, "burst": 5}}},
                {"throttle": {"RunTask": {"rate": 5}}},
                {"throttle": {"RunTask": {"rate": 5, "burst": 0.5}}}):
        with pytest.raises(urllib.error.HTTPError) as err:
            s3fake.ctl("POST", "config", bad)
        assert err.value.code == 400
        assert json.loads(err.value.read())["error"] == "BadConfig"
    assert s3fake.ctl("GET", "config")["latency"] == {"*": 0}


def test_ecs_progression_exit_code_and_overrides(ecs):
    ecs.config(progression=[["PENDING", 0.05], ["RUNNING", 0.5], ["STOPPED", 0.55]], exit_code=3,
               stop_code="EssentialContainerExited",
               stopped_reason="Essential container in task exited")
    c = client("ecs", ecs)
    arns = [t["taskArn"] for t in c.run_task(**run_body(count=2))["tasks"]]
    time.sleep(0.1)
    pending = c.describe_tasks(cluster="poky-cluster", tasks=arns)["tasks"][0]
    assert pending["lastStatus"] == "PENDING" and "pullStartedAt" in pending
    assert "startedAt" not in pending and pending["containers"][0]["lastStatus"] == "PENDING"
    time.sleep(0.5)
    tasks = c.describe_tasks(cluster="poky-cluster", tasks=arns)["tasks"]
    assert [t["lastStatus"] for t in tasks] == ["STOPPED", "STOPPED"]
    assert tasks[0]["containers"][0]["exitCode"] == 3
    assert tasks[0]["stoppedReason"] == "Essential container in task exited"

    # a task that never started: no exitCode, TaskFailedToStart
    ecs.config(progression=[["PENDING", 0.01], ["STOPPED", 0.03]], stop_code="TaskFailedToStart",
               stopped_reason="CannotPullContainerError: pull access denied",
               container_reason="CannotPullContainerError")
    arn = c.run_task(**run_body())["tasks"][0]["taskArn"]
    time.sleep(0.06)
    t = c.describe_tasks(cluster="poky-cluster", tasks=[arn])["tasks"][0]
    assert t["stopCode"] == "TaskFailedToStart" and "exitCode" not in t["containers"][0]
    assert "startedAt" not in t and t["containers"][0]["reason"] == "CannotPullContainerError"

    # per-task steering: pin RUNNING, then stop with exit code 137
    ecs.config(progression=FAST)
    arn = c.run_task(**run_body())["tasks"][0]["taskArn"]
    tid = arn.rsplit("/", 1)[1]
    assert ecs.ctl("POST", "tasks/" + tid, {"lastStatus": "RUNNING"})["lastStatus"] == "RUNNING"
    time.sleep(0.25)
    assert c.describe_tasks(cluster="poky-cluster", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
    ecs.ctl("POST", "tasks/" + arn, {"lastStatus": "STOPPED", "exitCode": 137,
                                     "stopCode": "SpotInterruption"})
    t = c.describe_tasks(cluster="poky-cluster", tasks=[arn])["tasks"][0]
    assert t["containers"][0]["exitCode"] == 137 and t["stopCode"] == "SpotInterruption"
    full = ecs.ctl("GET", "tasks")
    assert len(full) == 4 and all("_fake" in x for x in full)


def test_ecs_forget_makes_task_missing(ecs):
    ecs.config(progression=FAST)
    c = client("ecs", ecs)
    arn = c.run_task(**run_body())["tasks"][0]["taskArn"]
    ecs.ctl("POST", "tasks/" + arn, {"forget": True})
    d = c.describe_tasks(cluster="poky-cluster", tasks=[arn])
    assert d["tasks"] == [] and d["failures"] == [{"arn": arn, "reason": "MISSING"}]
    ecs.config(forget_after=0.05)
    arn2 = c.run_task(**run_body())["tasks"][0]["taskArn"]
    time.sleep(0.3)
    d = c.describe_tasks(cluster="poky-cluster", tasks=[arn2])
    assert d["failures"] == [{"arn": arn2, "reason": "MISSING"}]


def test_ecs_run_failures_and_capacity(ecs):
    c = client("ecs", ecs)
    ecs.config(capacity_unavailable=["FARGATE_SPOT"])
    spot = dict(run_body(), capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT",
                                                        "weight": 1}])
    del spot["launchType"]
    r = c.run_task(**spot)
    assert r["tasks"] == [] and "Capacity is unavailable" in r["failures"][0]["reason"]
    r = c.run_task(**run_body())                   # FARGATE still works
    assert len(r["tasks"]) == 1 and r["failures"] == []
    ecs.config(capacity_unavailable=[])
    r = c.run_task(**spot)
    assert r["tasks"][0]["capacityProviderName"] == "FARGATE_SPOT"
    ecs.config(run_failures=[{"reason": "RESOURCE:MEMORY", "arn": "arn:aws:ecs:x"}])
    r = c.run_task(**run_body())
    assert r["tasks"] == [] and r["failures"] == [{"reason": "RESOURCE:MEMORY", "arn": "arn:aws:ecs:x"}]
    ecs.config(run_failures=[])
    ecs.faults("RunTask", {"failures": [{"reason": "AGENT"}]})
    assert c.run_task(**run_body())["failures"] == [{"reason": "AGENT"}]
    assert len(c.run_task(**run_body())["tasks"]) == 1
    assert ecs.ctl("GET", "launches")["total_tasks_created"] == 3


def test_ecs_list_tasks_paging(ecs):
    ecs.config(progression=[])
    c = client("ecs", ecs)
    arns = [t["taskArn"] for t in c.run_task(**run_body(count=5))["tasks"]]
    page1 = c.list_tasks(cluster="poky-cluster", maxResults=2)
    page2 = c.list_tasks(cluster="poky-cluster", maxResults=2, nextToken=page1["nextToken"])
    page3 = c.list_tasks(cluster="poky-cluster", maxResults=2, nextToken=page2["nextToken"])
    assert page1["taskArns"] + page2["taskArns"] + page3["taskArns"] == arns
    assert "nextToken" not in page3
    pages = c.get_paginator("list_tasks").paginate(cluster="poky-cluster", family="poky-worker",
                                                   PaginationConfig={"PageSize": 3})
    assert [a for p in pages for a in p["taskArns"]] == arns


# --------------------------------------------------------------------------- STS

STS_ROLE = "arn:aws:iam::123456789012:role/poky-launcher"


def test_sts_assume_role_and_use_the_credentials_on_ecs(sts, ecs):
    s = client("sts", sts)
    r = s.assume_role(RoleArn=STS_ROLE, RoleSessionName="poky-test", DurationSeconds=900)
    cred = r["Credentials"]
    assert cred["AccessKeyId"].startswith("ASIA") and len(cred["AccessKeyId"]) == 20
    life = cred["Expiration"].timestamp() - time.time()
    assert 880 < life < 920
    assert r["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/poky-launcher/poky-test"
    assert sts.calls()[0]["signature_ok"] is True
    issued = sts.ctl("GET", "issued")
    assert issued[0]["AccessKeyId"] == cred["AccessKeyId"]

    e = client("ecs", ecs, ak=cred["AccessKeyId"], sk=cred["SecretAccessKey"],
               token=cred["SessionToken"])
    assert e.list_tasks()["taskArns"] == []
    who = client("sts", sts, ak=cred["AccessKeyId"], sk=cred["SecretAccessKey"],
                 token=cred["SessionToken"]).get_caller_identity()
    assert who["Arn"].endswith("assumed-role/poky-launcher/poky-test")
    with pytest.raises(botocore.exceptions.ClientError) as exc:       # token is required
        client("ecs", ecs, ak=cred["AccessKeyId"], sk=cred["SecretAccessKey"]).list_tasks()
    assert err_code(exc) == "UnrecognizedClientException"

    sts.config(issued_duration_seconds=-10)                            # already expired
    old = s.assume_role(RoleArn=STS_ROLE, RoleSessionName="poky-test")["Credentials"]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("ecs", ecs, ak=old["AccessKeyId"], sk=old["SecretAccessKey"],
               token=old["SessionToken"]).list_tasks()
    assert err_code(exc) == "ExpiredTokenException"


def test_sts_errors(sts):
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("sts", sts, sk="wrong").assume_role(RoleArn=STS_ROLE, RoleSessionName="abc")
    assert err_code(exc) == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client("sts", sts, ak="AKIDNOPE").assume_role(RoleArn=STS_ROLE, RoleSessionName="abc")
    assert err_code(exc) == "InvalidClientTokenId"
    lax = client("sts", sts, parameter_validation=False)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        lax.assume_role(RoleArn=STS_ROLE, RoleSessionName="x")
    assert err_code(exc) == "ValidationError" and "RoleSessionName" in str(exc.value)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        lax.assume_role(RoleArn=STS_ROLE, RoleSessionName="abc", DurationSeconds=7200)
    assert "MaxSessionDuration" in str(exc.value)
    sts.config(clock_skew_seconds=-900)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        lax.assume_role(RoleArn=STS_ROLE, RoleSessionName="abc")
    assert err_code(exc) == "SignatureDoesNotMatch" and "Signature not yet current" in str(exc.value)
    sts.config(clock_skew_seconds=0)
    sts.faults("AssumeRole", {"status": 503})
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        lax.assume_role(RoleArn=STS_ROLE, RoleSessionName="abc")
    assert err_code(exc) == "ServiceUnavailable"
    # raw query-protocol request with an unknown parameter, signed by botocore
    data = "Action=AssumeRole&Version=2011-06-15&RoleArn=%s&RoleSessionName=abc&Bogus=1" % STS_ROLE
    req = AWSRequest(method="POST", url=sts.url + "/", data=data.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(AK, SK), "sts", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", sts.port, timeout=5)
    conn.request("POST", "/", body=data.encode(), headers=dict(req.headers.items()))
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 400 and "<Code>ValidationError</Code>" in text and "Bogus" in text
    assert "<Type>Sender</Type>" in text


def test_sts_web_identity_is_unsigned(sts):
    u = client("sts", sts, signature_version=UNSIGNED)
    r = u.assume_role_with_web_identity(RoleArn=STS_ROLE, RoleSessionName="wi",
                                        WebIdentityToken="poky-web-identity-token")
    assert r["Credentials"]["SessionToken"]
    assert r["SubjectFromWebIdentityToken"]
    call = sts.calls()[0]
    assert call["signature_ok"] is None and "authorization" not in call["headers"]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        u.assume_role_with_web_identity(RoleArn=STS_ROLE, RoleSessionName="wi",
                                        WebIdentityToken="forged")
    assert err_code(exc) == "InvalidIdentityToken"
    with pytest.raises(botocore.exceptions.ClientError) as exc:    # AssumeRole is signed
        u.assume_role(RoleArn=STS_ROLE, RoleSessionName="wi")
    assert err_code(exc) == "MissingAuthenticationToken"


# --------------------------------------------------------------------------- IMDS

def test_imds_token_flow_with_botocore_fetcher(imds, ecs):
    creds = InstanceMetadataFetcher(base_url=imds.url, timeout=2).retrieve_iam_role_credentials()
    assert creds["role_name"] == "poky-instance-role"
    assert creds["access_key"] == "ASIAIMDSPOKYTEST0001"
    assert [c["op"] for c in imds.calls()] == ["PutToken", "ListRoles", "GetRoleCredentials"]
    assert imds.ctl("GET", "counts")["PutToken"] == 1
    # the served credentials work on the fake ECS
    client("ecs", ecs, ak=creds["access_key"], sk=creds["secret_key"],
           token=creds["token"]).list_tasks()


def test_imds_rules(imds):
    def call(method, path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", imds.port, timeout=5)
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        return resp.status, body, resp

    assert call("PUT", "/latest/api/token")[0] == 400
    assert call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "0"})[0] == 400
    assert call("PUT", "/latest/api/token",
                {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0] == 400
    assert call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                             "X-Forwarded-For": "1.2.3.4"})[0] == 403
    st, token, resp = call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "1"})
    assert st == 200 and resp.getheader("X-aws-ec2-metadata-token-ttl-seconds") == "1"
    base = "/latest/meta-data/iam/security-credentials/"
    assert call("GET", base)[0] == 401
    assert call("GET", base, {"X-aws-ec2-metadata-token": "bogus"})[0] == 401
    st, role, _ = call("GET", base, {"X-aws-ec2-metadata-token": token})
    assert st == 200 and role == "poky-instance-role"
    st, body, _ = call("GET", base + role, {"X-aws-ec2-metadata-token": token})
    doc = json.loads(body)
    assert doc["Code"] == "Success" and doc["Type"] == "AWS-HMAC" and doc["Expiration"].endswith("Z")
    assert call("GET", base + "other-role", {"X-aws-ec2-metadata-token": token})[0] == 404
    time.sleep(1.05)
    assert call("GET", base, {"X-aws-ec2-metadata-token": token})[0] == 401   # expired token
    imds.config(require_token=False, expiration_offset_seconds=60)
    st, body, _ = call("GET", base + "poky-instance-role")                  # IMDSv1
    assert st == 200
    assert 50 < common.parse_iso8601(json.loads(body)["Expiration"]) - time.time() < 70
    imds.faults("GetRoleCredentials", {"status": 500})
    assert call("GET", base + "poky-instance-role")[0] == 500
    assert call("GET", "/latest/meta-data/placement/region")[1] == "us-east-1"


# --------------------------------------------------------------------------- container creds

def test_container_credentials_with_auth_token(ccreds, ecs):
    ccreds.config(authorization_token="Bearer poky-secret-token")
    full = ccreds.url + "/v2/credentials/poky-task"
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": full,
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer poky-secret-token"}
    frozen = ContainerProvider(environ=env).load().get_frozen_credentials()
    assert frozen.access_key == "ASIACONTAINERPOKY001"
    client("ecs", ecs, ak=frozen.access_key, sk=frozen.secret_key, token=frozen.token).list_tasks()
    call = ccreds.calls()[0]
    assert call["op"] == "GetCredentials" and call["headers"]["authorization"] == "<redacted>"

    for headers, want in (({}, 401), ({"Authorization": "Bearer wrong"}, 401)):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(urllib.request.Request(full, headers=headers), timeout=5)
        assert exc.value.code == want
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(ccreds.url + "/v2/credentials/other", timeout=5)
    assert exc.value.code == 404
    ccreds.config(authorization_token=None, rotate=True, relative_uri="/creds")
    with urllib.request.urlopen(ccreds.url + "/creds", timeout=5) as resp:
        doc = json.loads(resp.read())
    assert set(doc) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
    assert doc["AccessKeyId"] != "ASIACONTAINERPOKY001"


# --------------------------------------------------------------------------- S3 (fake_s3)

def s3_client(fake, **kw):
    return client("s3", fake, s3={"addressing_style": "path"}, signature_version="s3v4", **kw)


def assert_s3_output(c, op, result):
    """What botocore parsed is valid against the S3 model's output shape."""
    result = {k: v for k, v in result.items() if k not in ("ResponseMetadata", "Body")}
    shape = c.meta.service_model.operation_model(op).output_shape
    report = ParamValidator().validate(result, shape)
    assert not report.has_errors(), report.generate_report()


def s3_multipart(c, bucket, key, parts, **kw):
    up = c.create_multipart_upload(Bucket=bucket, Key=key, **kw)
    assert_s3_output(c, "CreateMultipartUpload", up)
    etags = []
    for n, data in enumerate(parts, 1):
        r = c.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                          Body=data)
        assert_s3_output(c, "UploadPart", r)
        etags.append(r["ETag"])
    return up["UploadId"], etags


def s3_mp_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts))
                        .hexdigest(), len(parts))


@pytest.mark.parametrize("bucket", ["plain", "sse-s3", "kms"])
def test_s3_round_trip_with_botocore(s3fake, bucket):
    c = s3_client(s3fake)
    assert c.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    body = os.urandom(70000)
    key = "dir/with space/+&=\u00e9.bin"
    put = c.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-t",
                       Metadata={"Owner": "poky"}, CacheControl="no-cache")
    assert_s3_output(c, "PutObject", put)
    head = c.head_object(Bucket=bucket, Key=key)
    assert_s3_output(c, "HeadObject", head)
    assert head["ContentLength"] == len(body) and head["ContentType"] == "application/x-t"
    assert head["Metadata"] == {"owner": "poky"} and head["CacheControl"] == "no-cache"
    assert head["ETag"] == put["ETag"] and head["AcceptRanges"] == "bytes"
    assert head["LastModified"].year >= 2024
    if bucket == "kms":
        assert put["ETag"] != '"%s"' % hashlib.md5(body).hexdigest()
        assert re.fullmatch(r'"[0-9a-f]{32}"', put["ETag"])
        for r in (put, head):
            assert r["ServerSideEncryption"] == "aws:kms"
            assert r["SSEKMSKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    else:
        assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
        want = "AES256" if bucket == "sse-s3" else None
        assert put.get("ServerSideEncryption") == head.get("ServerSideEncryption") == want
        assert "SSEKMSKeyId" not in head
    got = c.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body and got["Metadata"] == {"owner": "poky"}
    part = c.get_object(Bucket=bucket, Key=key, Range="bytes=100-199")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == "bytes 100-199/%d" % len(body)
    assert part["ContentLength"] == 100 and part["Body"].read() == body[100:200]
    tail = c.get_object(Bucket=bucket, Key=key, Range="bytes=-10")
    assert tail["Body"].read() == body[-10:]
    rest = c.get_object(Bucket=bucket, Key=key, Range="bytes=69990-")
    assert rest["Body"].read() == body[69990:]
    listing = c.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert_s3_output(c, "ListObjectsV2", listing)
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listing["Contents"]] == \
        [(key, len(body), put["ETag"])]
    assert c.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"] == \
        [{"Prefix": "dir/"}]
    assert c.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert c.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert c.list_objects_v2(Bucket=bucket).get("Contents") is None
    assert all(call["signature_ok"] for call in s3fake.calls())


@pytest.mark.parametrize("bucket", ["plain", "kms"])
def test_s3_multipart_etags_and_listing(s3fake, bucket):
    c = s3_client(s3fake)
    parts = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(1234)]
    upload_id, etags = s3_multipart(c, bucket, "big.bin", parts, ContentType="video/x",
                                    Metadata={"a": "b"})
    for data, etag in zip(parts, etags):
        is_md5 = etag == '"%s"' % hashlib.md5(data).hexdigest()
        assert is_md5 == (bucket == "plain")
    other, _ = s3_multipart(c, bucket, "big.bin.other", [])
    listed = c.list_multipart_uploads(Bucket=bucket, Prefix="big.bin")
    assert_s3_output(c, "ListMultipartUploads", listed)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == \
        [("big.bin", upload_id), ("big.bin.other", other)]
    page = c.list_multipart_uploads(Bucket=bucket, MaxUploads=1)
    assert page["IsTruncated"] and page["NextKeyMarker"] == "big.bin"
    page2 = c.list_multipart_uploads(Bucket=bucket, MaxUploads=1, KeyMarker="big.bin",
                                     UploadIdMarker=page["NextUploadIdMarker"])
    assert [u["UploadId"] for u in page2["Uploads"]] == [other] and not page2["IsTruncated"]
    raw = s3_raw(s3fake, "GET", "/%s?uploads=&prefix=big.bin" % bucket)[2].decode()
    assert re.search(r"<Initiated>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z</Initiated>", raw), raw
    c.abort_multipart_upload(Bucket=bucket, Key="big.bin.other", UploadId=other)
    done = c.complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                   for n, e in enumerate(etags, 1)]})
    assert_s3_output(c, "CompleteMultipartUpload", done)
    assert done["Bucket"] == bucket and done["Key"] == "big.bin"
    if bucket == "kms":
        assert done["ETag"] != s3_mp_etag(parts) and re.fullmatch(r'"[0-9a-f]{32}-3"',
                                                                   done["ETag"])
        assert done["ServerSideEncryption"] == "aws:kms" and done["SSEKMSKeyId"]
    else:
        assert done["ETag"] == s3_mp_etag(parts) and "ServerSideEncryption" not in done
    head = c.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"] == done["ETag"] and head["ContentLength"] == sum(map(len, parts))
    assert head["ContentType"] == "video/x" and head["Metadata"] == {"a": "b"}
    assert c.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == b"".join(parts)
    assert c.list_multipart_uploads(Bucket=bucket).get("Uploads") is None
    objects = s3fake.ctl("GET", "objects")[bucket]["big.bin"]
    assert objects["parts"] == 3 and objects["md5"] == hashlib.md5(b"".join(parts)).hexdigest()


def test_s3_complete_validates_the_part_list(s3fake):
    c = s3_client(s3fake)
    small = [os.urandom(1000), os.urandom(1000)]
    upload_id, etags = s3_multipart(c, "kms", "k", small)

    def complete(parts):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.complete_multipart_upload(Bucket="kms", Key="k", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
        return err_code(exc)

    assert complete([{"PartNumber": 2, "ETag": etags[1]},
                     {"PartNumber": 1, "ETag": etags[0]}]) == "InvalidPartOrder"
    assert complete([{"PartNumber": 1, "ETag": etags[1]}]) == "InvalidPart"
    assert complete([{"PartNumber": 1, "ETag": etags[0]},
                     {"PartNumber": 3, "ETag": etags[1]}]) == "InvalidPart"
    assert complete([{"PartNumber": 1, "ETag": '"%s"' % hashlib.md5(small[0]).hexdigest()}]) \
        == "InvalidPart"                    # under KMS the MD5 is not the part's ETag
    assert complete([{"PartNumber": 1, "ETag": etags[0]},
                     {"PartNumber": 2, "ETag": etags[1]}]) == "EntityTooSmall"
    assert complete([]) == "MalformedXML"
    # One small part is the last part: fine.  The upload is then gone.
    c.complete_multipart_upload(Bucket="kms", Key="k", UploadId=upload_id,
                                MultipartUpload={"Parts": [{"PartNumber": 1,
                                                            "ETag": etags[0]}]})
    assert c.get_object(Bucket="kms", Key="k")["Body"].read() == small[0]
    for call in (lambda: c.abort_multipart_upload(Bucket="kms", Key="k", UploadId=upload_id),
                 lambda: c.upload_part(Bucket="kms", Key="k", UploadId=upload_id,
                                       PartNumber=1, Body=b"x")):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            call()
        assert err_code(exc) == "NoSuchUpload"
    assert s3fake.ctl("GET", "uploads") == []


def s3_raw(fake, method, target, body=b"", headers=None, sk=SK, sent=None):
    """A request signed by botocore's S3SigV4Auth (payload signed), sent as is - with the
    body `sent` instead of `body` when given."""
    req = AWSRequest(method=method, url=fake.url + target, data=body, headers=headers or {})
    S3SigV4Auth(Credentials(AK, sk), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        conn.request(method, target, body=body if sent is None else sent,
                     headers=dict(req.headers.items()))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_s3_bad_signature_and_errors(s3fake):
    bad = s3_client(s3fake, sk="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.put_object(Bucket="plain", Key="x", Body=b"x")
    assert err_code(exc) == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.head_bucket(Bucket="plain")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3_client(s3fake, ak="AKIDUNKNOWN").list_objects_v2(Bucket="plain")
    assert err_code(exc) == "InvalidAccessKeyId"
    calls = s3fake.calls()
    assert [c["signature_ok"] for c in calls] == [False, False, False]
    assert s3fake.ctl("GET", "objects") == {}
    st, hdrs, _ = s3_raw(s3fake, "PUT", "/plain/x", b"body", sent=b"bodx")
    assert st == 400 and hdrs["x-amz-error-code"] == "XAmzContentSHA256Mismatch"

    c = s3_client(s3fake)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.list_objects_v2(Bucket="nope")
    assert err_code(exc) == "NoSuchBucket"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.get_object(Bucket="plain", Key="missing")
    assert err_code(exc) == "NoSuchKey"
    put = c.put_object(Bucket="plain", Key="k", Body=b"0123456789")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.get_object(Bucket="plain", Key="k", Range="bytes=10-20")
    assert err_code(exc) == "InvalidRange"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */10"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.get_object(Bucket="plain", Key="k", IfMatch='"%s"' % ("f" * 32))
    assert err_code(exc) == "PreconditionFailed"
    assert c.get_object(Bucket="plain", Key="k", IfMatch=put["ETag"])["Body"].read() == \
        b"0123456789"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.put_object(Bucket="plain", Key="k", Body=b"x", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert err_code(exc) == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.copy_object(Bucket="plain", Key="k2", CopySource="plain/k")
    assert err_code(exc) == "NotImplemented"
    s3fake.config(max_bytes=100)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.put_object(Bucket="plain", Key="big", Body=b"x" * 200)
    assert err_code(exc) == "EntityTooLarge"
    c.put_object(Bucket="plain", Key="k", Body=b"x" * 100)     # replaces: fits
    assert sorted(s3fake.ctl("GET", "objects")["plain"]) == ["k"]


def test_s3_fault_headers_replace_and_call_log(s3fake):
    c = s3_client(s3fake)
    wrong = '"%s"' % ("0" * 32)
    s3fake.faults("PutObject", {"headers": {"ETag": wrong}})
    body = os.urandom(3000)
    r = c.put_object(Bucket="plain", Key="k", Body=body)
    assert r["ETag"] == wrong
    assert r["ResponseMetadata"]["HTTPHeaders"]["etag"] == wrong      # one ETag, not two
    good = '"%s"' % hashlib.md5(body).hexdigest()
    assert c.head_object(Bucket="plain", Key="k")["ETag"] == good     # stored for real
    assert c.put_object(Bucket="plain", Key="k", Body=body)["ETag"] == good
    puts = [x for x in s3fake.calls() if x["op"] == "PutObject"]
    assert puts[0]["body"] == {"bytes": 3000, "md5": hashlib.md5(body).hexdigest()}
    assert puts[0]["response_headers"] == {"etag": wrong} and puts[0]["fault"]
    assert puts[1]["response_headers"] == {"etag": good} and not puts[1]["fault"]
    s3fake.faults("UploadPart", {"status": 503})
    upload_id, _ = s3_multipart(c, "plain", "m", [])
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.upload_part(Bucket="plain", Key="m", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert err_code(exc) == "SlowDown"


# --------------------------------------------------------------------------- CLI + creds file

def _spawn(script, tmp_path, *extra):
    port_file = tmp_path / (script + ".port")
    proc = subprocess.Popen([sys.executable, str(FAKES / (script + ".py")), "--port", "0",
                             "--port-file", str(port_file), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on 127.0.0.1:"), line + proc.stderr.read()
    port = int(port_file.read_text())
    assert line.strip().endswith(":%d" % port)
    return proc, port


def test_cli_and_shared_creds_file(tmp_path):
    creds_file = tmp_path / "creds.json"
    sts_proc, sts_port = _spawn("fake_sts", tmp_path, "--creds-file", str(creds_file))
    ecs_proc, ecs_port = _spawn("fake_ecs", tmp_path, "--creds-file", str(creds_file),
                                "--config", '{"clusters": ["only-this"]}')
    try:
        class P:
            url = "http://127.0.0.1:%d" % sts_port
        r = client("sts", P).assume_role(RoleArn=STS_ROLE, RoleSessionName="cli")["Credentials"]
        entry = json.loads(creds_file.read_text())[r["AccessKeyId"]]
        assert entry["secret"] == r["SecretAccessKey"] and entry["token"] == r["SessionToken"]

        class E:
            url = "http://127.0.0.1:%d" % ecs_port
        e = client("ecs", E, ak=r["AccessKeyId"], sk=r["SecretAccessKey"], token=r["SessionToken"])
        assert e.list_tasks(cluster="only-this")["taskArns"] == []
        with urllib.request.urlopen(E.url + "/_fake/health", timeout=5) as resp:
            assert json.loads(resp.read())["name"] == "fake_ecs"
    finally:
        for proc in (sts_proc, ecs_proc):
            proc.terminate()
        for proc in (sts_proc, ecs_proc):
            assert proc.wait(timeout=10) == 0
            proc.stdout.close()
            proc.stderr.close()


def test_s3_cli(tmp_path):
    proc, port = _spawn("fake_s3", tmp_path, "--config", json.dumps({"buckets": {"b-1": {}}}))
    try:
        class P:
            url = "http://127.0.0.1:%d" % port
        c = s3_client(P)
        c.put_object(Bucket="b-1", Key="k", Body=b"v")
        assert c.get_object(Bucket="b-1", Key="k")["Body"].read() == b"v"
        with urllib.request.urlopen(P.url + "/_fake/health", timeout=5) as resp:
            assert json.loads(resp.read())["name"] == "fake_s3"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()
