"""The original Poky's behaviours on POST /process_file, kept by pokyd: form-encoded or JSON
fields, the original's error strings (bare JSON strings, word for word), the existence checks
before launch, and the ECS RunTask response echoing the three environment overrides in order.

Two daemons: the embedded default's shape (local launcher, buckets as folders, the real
poky-worker copying the file), and ECS with the existence checks asked of S3 (the fake S3 that
checks SigV4 with botocore's S3SigV4Auth).
"""
import json
import re
import urllib.parse

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import ecs_template, local_template, module_factory, wait_task  # noqa: E402

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

FIELDS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
MISSING = ("Missing required field.  Required fields are "
           "['source_bucket', 'source_key', 'output_bucket']")
NOT_THERE = "The %s provided does not exist, or you do not have permissions to access it"
FORM = "application/x-www-form-urlencoded"
ENV_ORDER = ["SOURCE_BUCKET", "SOURCE_KEY", "OUTPUT_BUCKET"]


@pytest.fixture(scope="module")
def buckets(tmp_path_factory):
    root = tmp_path_factory.mktemp("buckets")
    (root / "test-poky-input").mkdir()
    (root / "test-poky-input" / "test_file.txt").write_text("the original's sample file\n")
    (root / "test-poky-input" / "dir").mkdir()
    (root / "test-poky-output").mkdir()
    return root


@pytest.fixture(scope="module")
def local(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, buckets):
    """config/pokyd.local.ini's template, with this test's folders and binaries."""
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "compat_local")
    d = f.new({"process_file": local_template(str(bindir / "poky-worker"), **{
        "max_running": 2, "timeout": 600,
        "param.source_bucket": "required env=SOURCE_BUCKET max=63 s3=bucket",
        "param.source_key": "required env=SOURCE_KEY max=1024 s3=object:source_bucket",
        "param.output_bucket": "required env=OUTPUT_BUCKET max=63 s3=bucket",
        "param.output_key": "optional env=OUTPUT_KEY max=1024",
        "param.delete_source": "optional env=DELETE_SOURCE default=false "
                               "pattern=^(true|false)$",
        "env.POKY_LOCAL_ROOT": str(buckets)})})
    yield d
    f.close()


@pytest.fixture(scope="module")
def ecs(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server):
    f = module_factory(bindir, tmp_path_factory, fake_ecs_server, fake_s3_server, "compat_ecs")
    d = f.new({"process_file": ecs_template(**{
        "param.source_bucket": "required env=SOURCE_BUCKET max=63 s3=bucket",
        "param.source_key": "required env=SOURCE_KEY max=1024 s3=object:source_bucket",
        "param.output_bucket": "required env=OUTPUT_BUCKET max=63 s3=bucket",
        "param.delete_source": None, "env.AWS_REGION": None})})
    yield d
    f.close()


@pytest.fixture
def s3(fake_s3):
    fake_s3.set_config(buckets={"test-poky-input": ["test_file.txt", "dir/n\u00e4me.csv"],
                                "test-poky-output": []},
                       forbidden=["someone-elses-bucket"])
    return fake_s3


def form(fields):
    return urllib.parse.urlencode(fields)


def compat_error(r, text):
    assert r.status == 400, r
    assert r.media_type == "application/json"
    assert r.json == text
    assert r.body == json.dumps(text).encode()


def environment(run_response):
    return run_response["tasks"][0]["overrides"]["containerOverrides"][0]["environment"]


# --------------------------------------------------------------------------- local, folders

def test_form_post_runs_the_worker_and_copies_the_file(local, buckets):
    api = local.client()
    r = api.request("POST", "/process_file", body=form(FIELDS), content_type=FORM)
    assert r.status == 200, r
    env = environment(r.json)
    assert [e["name"] for e in env] == ENV_ORDER
    assert [e["value"] for e in env] == [FIELDS[k] for k in ("source_bucket", "source_key",
                                                             "output_bucket")]
    task_id = r.json["pokyTaskId"]
    assert r.header("Location") == "/tasks/" + task_id
    done = wait_task(api, task_id, "succeeded", timeout=20)
    assert done["exit_code"] == 0
    copies = list((buckets / "test-poky-output").glob("test_file_*.txt"))
    names = [p.name for p in copies]
    assert any(re.fullmatch(r"test_file_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                            r"[0-9a-f]{12}\.txt", n) for n in names), names
    for p in copies:
        assert p.read_text() == "the original's sample file\n"
    assert (buckets / "test-poky-input" / "test_file.txt").exists()
    # The worker's one JSON summary line is in the task's log.
    log = api.get("/tasks/%s/logs" % task_id).text
    summary = json.loads(log.strip().splitlines()[-1])
    assert summary["source"] == "s3://test-poky-input/test_file.txt"
    assert summary["bytes"] == len("the original's sample file\n")


def test_json_post_is_accepted_too(local):
    api = local.client()
    r = api.post("/process_file", dict(FIELDS, output_key="exact-name.txt"))
    assert r.status == 200, r
    assert [e["name"] for e in environment(r.json)] == ENV_ORDER + ["OUTPUT_KEY"]
    wait_task(api, r.json["pokyTaskId"], "succeeded", timeout=20)


def test_fields_may_come_in_the_query_string(local):
    api = local.client()
    r = api.request("POST", "/process_file?" + form(FIELDS), body="", content_type=FORM)
    assert r.status == 200, r
    assert [e["value"] for e in environment(r.json)] == list(FIELDS.values())


@pytest.mark.parametrize("drop", ["source_bucket", "source_key", "output_bucket"])
def test_missing_field_has_the_original_wording(local, drop):
    api = local.client()
    fields = {k: v for k, v in FIELDS.items() if k != drop}
    compat_error(api.request("POST", "/process_file", body=form(fields), content_type=FORM),
                 MISSING)
    compat_error(api.post("/process_file", fields), MISSING)


def test_empty_form_has_the_original_wording(local):
    compat_error(local.client().request("POST", "/process_file", body="", content_type=FORM),
                 MISSING)


@pytest.mark.parametrize("field,value,what", [
    ("source_bucket", "no-such-bucket", "source bucket"),
    ("source_key", "no_such_file.txt", "source key"),
    ("source_key", "dir", "source key"),                       # a folder is not an object
    ("source_key", "../test-poky-output", "source key"),       # never a path outside
    ("output_bucket", "no-such-output", "output bucket"),
    ("source_bucket", "..", "source bucket"),
], ids=["source-bucket", "source-key", "key-is-a-folder", "key-escapes", "output-bucket",
        "dot-dot-bucket"])
def test_existence_checks_have_the_original_wording(local, field, value, what):
    api = local.client()
    fields = dict(FIELDS, **{field: value})
    compat_error(api.request("POST", "/process_file", body=form(fields), content_type=FORM),
                 NOT_THERE % what)
    compat_error(api.post("/process_file", fields), NOT_THERE % what)


def test_post_tasks_with_the_template_reports_the_check_as_a_field_error(local):
    r = local.client().post("/tasks", {"template": "process_file",
                                       "parameters": dict(FIELDS, source_key="nope.txt")})
    assert r.status == 400, r
    assert r.json["detail"] == NOT_THERE % "source key"
    assert r.json["errors"] == [{"field": "source_key", "message": "does not exist, or you do "
                                 "not have permissions to access it"}]


def test_root_and_other_methods(local):
    api = local.client()
    r = api.request("POST", "/", body=form(FIELDS), content_type=FORM)
    assert r.status == 404, r
    r = api.get("/process_file")
    assert r.status == 405 and r.header("Allow") == "POST"


def test_malformed_json_is_a_problem_document(local):
    r = local.client().request("POST", "/process_file", body="{nope",
                               content_type="application/json")
    assert r.status == 400 and r.media_type == "application/problem+json"


def test_process_file_without_the_template_is_404(bindir, pokyd_factory):
    d = pokyd_factory.new({"other": local_template("/bin/true")})
    r = d.client().request("POST", "/process_file", body=form(FIELDS), content_type=FORM)
    assert r.status == 404 and r.media_type == "application/problem+json"


# --------------------------------------------------------------------------- ECS, S3 checks

def test_ecs_answers_the_runtask_response_with_the_three_overrides(ecs, fake_ecs, s3):
    api = ecs.client()
    r = api.request("POST", "/process_file", body=form(FIELDS), content_type=FORM)
    assert r.status == 200, r
    run = r.json
    assert run["failures"] == []
    assert run["tasks"][0]["taskArn"] == fake_ecs.tasks()[0]["taskArn"]
    env = environment(run)
    task_id = r.header("Location").rsplit("/", 1)[1]
    # The original's three, in its order and places; then Poky's own POKY_TASK_ID.
    assert env == [{"name": n, "value": FIELDS[k]} for n, k in
                   zip(ENV_ORDER, ("source_bucket", "source_key", "output_bucket"))] + [
                  {"name": "POKY_TASK_ID", "value": task_id}]
    assert run["tasks"][0]["overrides"]["containerOverrides"][0]["name"] == "poky"
    # The checks went to S3 first, signed (botocore's S3SigV4Auth agreed), in field order.
    calls = s3.calls()
    assert [(c["op"], c["path"]) for c in calls] == [
        ("HeadBucket", "/test-poky-input"),
        ("HeadObject", "/test-poky-input/test_file.txt"),
        ("HeadBucket", "/test-poky-output")]
    assert all(c["signature_ok"] for c in calls)
    wait_task(api, task_id, "succeeded")


def test_ecs_json_post_and_an_encoded_key(ecs, fake_ecs, s3):
    fields = dict(FIELDS, source_key="dir/n\u00e4me.csv")
    r = ecs.client().post("/process_file", fields)
    assert r.status == 200, r
    assert environment(r.json)[1] == {"name": "SOURCE_KEY", "value": "dir/n\u00e4me.csv"}
    assert s3.calls("HeadObject")[0]["path"] == "/test-poky-input/dir/n%C3%A4me.csv"


@pytest.mark.parametrize("field,value,what", [
    ("source_bucket", "no-such-bucket", "source bucket"),
    ("source_bucket", "someone-elses-bucket", "source bucket"),     # 403
    ("source_key", "no_such_file.txt", "source key"),
    ("output_bucket", "no-such-output", "output bucket"),
], ids=["404-bucket", "403-bucket", "404-key", "404-output"])
def test_ecs_existence_checks_have_the_original_wording(ecs, fake_ecs, s3, field, value, what):
    fields = dict(FIELDS, **{field: value})
    compat_error(ecs.client().request("POST", "/process_file", body=form(fields),
                                      content_type=FORM), NOT_THERE % what)
    assert fake_ecs.calls("RunTask") == []


def test_ecs_missing_field(ecs, fake_ecs, s3):
    compat_error(ecs.client().request("POST", "/process_file",
                                      body=form({"source_bucket": "x"}), content_type=FORM),
                 MISSING)
    assert s3.calls() == [] and fake_ecs.calls("RunTask") == []


def test_ecs_runtask_failure_is_502(ecs, fake_ecs, s3):
    fake_ecs.set_config(run_failures=[{"reason": "RESOURCE:CPU"}])
    r = ecs.client().request("POST", "/process_file", body=form(FIELDS), content_type=FORM)
    assert r.status == 502, r
    assert "RESOURCE:CPU" in r.json["detail"]


def test_s3_unavailable_is_503(ecs, fake_ecs, s3):
    s3.faults("HeadBucket", [{"status": 503}] * 3)
    r = ecs.client().request("POST", "/process_file", body=form(FIELDS), content_type=FORM)
    assert r.status == 503, r
    assert r.header("Retry-After")
    assert fake_ecs.calls("RunTask") == []
