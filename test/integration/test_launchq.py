"""The ECS launch queue against a fake ECS that answers like the real one: slow (RunTask in
hundreds of milliseconds), throttled (a token bucket answering ThrottlingException), judged by
botocore.  POST /tasks answers once the record is durable and queued; launches follow under the
RunTask token bucket, per-template max_running and fairness across templates; Prefer: wait
waits for the outcome; /process_file is served on suspended connections; a queue survives a
restart and kill -9, every 202 launched exactly once.
"""
import collections
import json
import threading
import time
import urllib.parse

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import (FINAL, ecs_template, parse_metrics, wait_for,  # noqa: E402
                   wait_task)

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
          "output_bucket": "test-poky-output"}
RUNS_UNTIL_STOPPED = [["PENDING", 0.05], ["RUNNING", 0.1]]


def launches(fake_ecs):
    return fake_ecs.ctl("GET", "launches?calls=1")


def runtask_tokens(fake_ecs):
    return [c["body"]["clientToken"] for c in fake_ecs.calls("RunTask")]


def submit_many(api, n, template="job", **kw):
    recs = []
    for i in range(n):
        r = api.post("/tasks", {"template": template,
                                "parameters": dict(PARAMS, source_key="k%04d" % i)}, **kw)
        assert r.status == 202, r
        recs.append(r.json)
    return recs


def wait_all_final(api, ids, timeout):
    def done():
        recs = {i: api.get("/tasks/" + i).json for i in ids}
        return recs if all(r["status"] in FINAL for r in recs.values()) else None
    return wait_for(done, timeout=timeout, interval=0.2, what="every task final")


def test_submit_answers_once_queued_not_after_runtask(pokyd_factory, fake_ecs):
    """RunTask takes 1.5 s: the 202 must not wait for it (it did: ~9 tasks/s per thread)."""
    fake_ecs.set_config(latency={"RunTask": 1.5})
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    t0 = time.monotonic()
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS})
    took = time.monotonic() - t0
    assert r.status == 202, r
    assert took < 1.0, "the 202 waited %.2fs (RunTask takes 1.5s)" % took
    rec = r.json
    assert rec["status"] == "queued" and rec["ecs"]["task_arn"] is None
    assert r.header("Location") == "/tasks/" + rec["id"]
    done = wait_task(api, rec["id"], "succeeded", timeout=20)
    assert done["ecs"]["task_arn"] and done["reason_code"] is None
    assert runtask_tokens(fake_ecs) == [rec["id"]]


def test_prefer_wait_answers_with_the_launched_record(pokyd_factory, fake_ecs):
    fake_ecs.set_config(latency={"RunTask": 0.3})
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    t0 = time.monotonic()
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS},
                 headers={"Prefer": "respond-async, wait=10"})
    assert r.status == 202, r
    assert time.monotonic() - t0 >= 0.3
    assert r.json["status"] == "starting"
    assert r.json["ecs"]["task_arn"] == fake_ecs.tasks()[0]["taskArn"]


def test_a_wait_that_runs_out_answers_202_and_the_launch_goes_on(pokyd_factory, fake_ecs):
    fake_ecs.set_config(latency={"RunTask": 3})
    d = pokyd_factory.new({"job": ecs_template()})
    api = d.client()
    t0 = time.monotonic()
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS},
                 headers={"Prefer": "wait=1"})
    took = time.monotonic() - t0
    assert r.status == 202, r
    assert 0.9 <= took < 2.5, took
    assert r.json["status"] in ("queued", "starting") and r.json["ecs"]["task_arn"] is None
    done = wait_task(api, r.json["id"], "succeeded", timeout=20)
    assert done["ecs"]["task_arn"]
    assert launches(fake_ecs)["by_client_token"] == {r.json["id"]: 1}


@pytest.mark.parametrize("prefer", ["wait=abc", "wait=", "wait=-1", "return=minimal"])
def test_an_unusable_prefer_is_ignored(pokyd_factory, fake_ecs, prefer):
    """RFC 7240: a preference the server cannot use is ignored, never an error."""
    fake_ecs.set_config(latency={"RunTask": 1.0})
    d = pokyd_factory.new({"job": ecs_template()})
    t0 = time.monotonic()
    r = d.client().post("/tasks", {"template": "job", "parameters": PARAMS},
                        headers={"Prefer": prefer})
    assert r.status == 202 and r.json["status"] == "queued", r
    assert time.monotonic() - t0 < 0.9


def test_a_burst_is_paced_by_the_bucket_and_launched_once_each(pokyd_factory, fake_ecs):
    """pokyd's bucket at 5/s, burst 5: 30 submits are all accepted at once, launched in about
    (30 - 5) / 5 = 5 s, never throttled by an ECS that allows exactly that."""
    fake_ecs.set_config(latency={"RunTask": 0.2}, throttle={"RunTask": {"rate": 5, "burst": 5}},
                        progression=[["RUNNING", 0.05], ["STOPPED", 0.1]])
    d = pokyd_factory.new({"job": ecs_template()},
                          aws={"runtask_rate": 5, "runtask_burst": 5})
    api = d.client()
    t0 = time.monotonic()
    recs = submit_many(api, 30)
    assert time.monotonic() - t0 < 5, "accepting 30 submits took %.1fs" % (time.monotonic() - t0)
    final = wait_all_final(api, [r["id"] for r in recs], timeout=40)
    took = time.monotonic() - t0
    assert all(r["status"] == "succeeded" for r in final.values())
    assert took >= 4.0, "30 launches at 5/s burst 5 took only %.1fs: the bucket let too many" % took
    stats = launches(fake_ecs)
    assert stats["double_launches"] == [] or stats["double_launches"] == 0, stats
    assert stats["total_tasks_created"] == 30
    # Two buckets of the same rate meet at their edges: a throttle there costs one call.
    assert stats["run_task_throttled"] <= 6, stats
    assert stats["run_task_calls"] <= 36, stats           # <= 1.2 calls a task


def test_throttling_slows_the_queue_instead_of_failing_tasks(pokyd_factory, fake_ecs):
    """pokyd thinks it may launch 100/s; ECS allows 4/s: ThrottlingException halves pokyd's rate
    again and again, and every task is still launched, once."""
    fake_ecs.set_config(throttle={"RunTask": {"rate": 4, "burst": 4}},
                        progression=[["RUNNING", 0.05], ["STOPPED", 0.1]])
    d = pokyd_factory.new({"job": ecs_template()},
                          aws={"runtask_rate": 100, "runtask_burst": 100, "max_attempts": 2})
    api = d.client()
    recs = submit_many(api, 24)
    final = wait_all_final(api, [r["id"] for r in recs], timeout=60)
    assert all(r["status"] == "succeeded" for r in final.values()), [
        r for r in final.values() if r["status"] != "succeeded"][:2]
    stats = launches(fake_ecs)
    assert stats["total_tasks_created"] == 24 and stats["run_task_throttled"] > 0
    assert all(n == 1 for n in stats["by_client_token"].values())
    metrics = parse_metrics(api.get("/metrics").text)[0]
    assert metrics.get(("poky_launch_throttled_total", (("template", "job"),)), 0) >= 1


def test_max_running_holds_launches_of_its_template(pokyd_factory, fake_ecs):
    fake_ecs.set_config(progression=RUNS_UNTIL_STOPPED)
    d = pokyd_factory.new({"job": ecs_template(max_running=2)})
    api = d.client()
    recs = submit_many(api, 5)
    wait_for(lambda: len(fake_ecs.calls("RunTask")) >= 2, what="two launches")
    time.sleep(1.0)
    assert len(fake_ecs.calls("RunTask")) == 2, "max_running = 2 let more run"
    running = [r["id"] for r in recs if r["id"] in runtask_tokens(fake_ecs)]
    # FIFO: the first two submitted went first.
    assert running == [recs[0]["id"], recs[1]["id"]]
    assert api.delete("/tasks/" + running[0]).status == 202
    wait_for(lambda: len(fake_ecs.calls("RunTask")) == 3, timeout=10,
             what="a third launch once one ended")
    assert runtask_tokens(fake_ecs)[2] == recs[2]["id"]
    for r in recs:
        api.delete("/tasks/" + r["id"])


def test_templates_share_the_launches_fairly(pokyd_factory, fake_ecs):
    """40 tasks of one template queued before 3 of another: at 4/s, the second template's
    tasks are launched among the next ones, not after the first template's 40."""
    d = pokyd_factory.new({"big": ecs_template(), "small": ecs_template()},
                          aws={"runtask_rate": 4, "runtask_burst": 1})
    api = d.client()
    big = submit_many(api, 40, template="big")
    small = submit_many(api, 3, template="small")
    small_ids = {r["id"] for r in small}
    wait_for(lambda: small_ids <= set(runtask_tokens(fake_ecs)), timeout=20,
             what="the small template's launches")
    order = runtask_tokens(fake_ecs)
    last_small = max(order.index(i) for i in small_ids)
    assert last_small < 12, "the small template waited behind %d launches" % last_small
    for r in big + small:
        api.delete("/tasks/" + r["id"])


def test_a_cancelled_queued_task_is_never_launched(pokyd_factory, fake_ecs):
    d = pokyd_factory.new({"job": ecs_template()},
                          aws={"runtask_rate": 0.5, "runtask_burst": 1})
    api = d.client()
    recs = submit_many(api, 3)
    last = recs[-1]
    r = api.delete("/tasks/" + last["id"])
    assert r.status == 202, r
    assert r.json["status"] == "cancelled" and r.json["reason_code"] == "cancelled"
    assert r.json["ecs"]["task_arn"] is None
    wait_for(lambda: recs[1]["id"] in runtask_tokens(fake_ecs), timeout=10,
             what="the second launch")
    time.sleep(2.5)                      # a launch slot for the third would have come
    assert last["id"] not in runtask_tokens(fake_ecs)
    got = api.get("/tasks/" + last["id"]).json
    assert got["status"] == "cancelled" and got["ecs"]["task_arn"] is None


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_a_full_queue_survives_a_restart_and_launches_each_once(pokyd_factory, fake_ecs, how):
    fake_ecs.set_config(latency={"RunTask": 0.2},
                        progression=[["RUNNING", 0.05], ["STOPPED", 0.1]])
    d = pokyd_factory.new({"job": ecs_template()},
                          aws={"runtask_rate": 2, "runtask_burst": 1})
    api = d.client()
    recs = submit_many(api, 12)
    time.sleep(1.2)                      # a few launched, most still queued
    if how == "sigkill":
        d.kill()
    else:
        d.stop()
    before = len(set(runtask_tokens(fake_ecs)))
    assert before < 12, "everything launched before the stop: nothing to test"
    d.start()
    api = d.client()
    assert api.get("/metrics").status == 200
    final = wait_all_final(api, [r["id"] for r in recs], timeout=40)
    assert all(r["status"] == "succeeded" for r in final.values()), [
        r for r in final.values() if r["status"] != "succeeded"][:2]
    stats = launches(fake_ecs)
    assert stats["total_tasks_created"] == 12
    assert stats["by_client_token"] == {r["id"]: 1 for r in recs}


def test_a_full_queue_refuses_with_503_and_keeps_nothing(pokyd_factory, fake_ecs):
    d = pokyd_factory.new({"job": ecs_template()},
                          aws={"runtask_rate": 0.1, "runtask_burst": 1, "max_queued": 3})
    api = d.client()
    submit_many(api, 4)                  # one launches at once, three wait
    r = api.post("/tasks", {"template": "job", "parameters": PARAMS})
    assert r.status == 503, r
    assert r.json["title"] == "Launch queue full" and r.header("Retry-After")
    assert len(api.get("/tasks?limit=100").json["tasks"]) == 4


def test_process_file_storm_holds_no_request_thread(pokyd_factory, fake_ecs, fake_s3):
    """64 clients at once on /process_file with RunTask 300 ms and S3 HEAD 20 ms, on a pokyd with
    4 request threads: every client gets the RunTask answer in about one RunTask's time (not 64
    x 0.36 s / 4 threads), and status reads stay fast meanwhile."""
    fake_ecs.set_config(latency={"RunTask": 0.3})
    fake_s3.set_config(buckets={"test-poky-input": ["test_file.txt"], "test-poky-output": []},
                       latency={"HeadBucket": 0.02, "HeadObject": 0.02})
    d = pokyd_factory.new({"process_file": ecs_template(**{
        "param.source_bucket": "required env=SOURCE_BUCKET max=63 s3=bucket",
        "param.source_key": "required env=SOURCE_KEY max=1024 s3=object:source_bucket",
        "param.output_bucket": "required env=OUTPUT_BUCKET max=63 s3=bucket"})},
        aws={"runtask_burst": 200, "runtask_rate": 200})
    api = d.client()
    probe = api.post("/tasks", {"template": "process_file", "parameters": PARAMS},
                     headers={"Prefer": "wait=10"}).json
    n, results, reads = 64, [None] * 64, []
    barrier = threading.Barrier(n + 1)

    def one(i):
        c = d.client()
        barrier.wait()
        t0 = time.monotonic()
        r = c.request("POST", "/process_file", body=urllib.parse.urlencode(
            dict(PARAMS, source_key="test_file.txt")),
            content_type="application/x-www-form-urlencoded", timeout=60)
        results[i] = (r, time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t_storm = time.monotonic()
    while any(t.is_alive() for t in threads) and time.monotonic() - t_storm < 30:
        t0 = time.monotonic()
        assert api.get("/tasks/" + probe["id"]).status == 200
        reads.append(time.monotonic() - t0)
        time.sleep(0.05)
    for t in threads:
        t.join(60)
    storm = time.monotonic() - t_storm
    assert all(r is not None and r[0].status == 200 for r in results), [
        r for r in results if r is None or r[0].status != 200][:2]
    assert all(r[0].json["tasks"][0]["taskArn"].startswith("arn:aws:ecs:") for r in results)
    # 64 x (300 ms + 2 x 20 ms of HEADs) over 4 threads would be 5.4 s at the least.
    assert storm < 4.0, "64 /process_file took %.1fs: requests waited on threads" % storm
    assert reads and max(reads) < 1.0, "a status read took %.2fs during the storm" % max(reads)
    assert launches(fake_ecs)["total_tasks_created"] == n + 1
