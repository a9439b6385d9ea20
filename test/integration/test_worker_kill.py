"""poky-worker killed at each step of a move on a real S3 (radosgw), judged by botocore:
the source is never lost, no multipart upload is left behind where the worker could clean up,
and a re-run completes (or says clearly why not).

Steps, timed from the worker's POKY_LOG_LEVEL=debug lines on stderr:
  * mid-multipart ("part 1/13 copied" / "streamed"): SIGTERM and SIGKILL;
  * after the copy is verified and before the source is deleted ("verified: ..."): radosgw is
    frozen with SIGSTOP at that moment so the worker cannot get further, then the worker gets
    SIGTERM or SIGKILL, then radosgw is thawed.
"""
import contextlib
import json
import os
import signal
import subprocess
import time

import botocore.session
import pytest
from botocore.config import Config

from rgw import rgw  # noqa: F401  (the session fixture)
from test_worker import MULTIPART, Run, md5, run_worker, worker  # noqa: F401

MIB = 1 << 20


def rgw_pids(r):
    """radosgw's pid(s): the process started with this cluster's ceph.conf."""
    conf = str(r.dir / "ceph.conf").encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as fh:
                cmd = fh.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"radosgw") and conf in cmd:
            pids.append(int(entry))
    assert pids, "radosgw of %s not found" % r.dir
    return pids


@contextlib.contextmanager
def frozen(pids):
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)


def kill_at(worker, env, marker, sig, freeze=None):
    """Runs the worker; when marker shows on its (debug) stderr, sends sig (freezing radosgw
    around it when freeze is given).  Returns (Run, stderr seen before the kill)."""
    env = dict(env, POKY_LOG_LEVEL="debug")
    proc = subprocess.Popen([str(worker)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = b""
    hit = False
    for line in proc.stderr:
        seen += line
        if marker in line:
            hit = True
            if freeze:
                with frozen(freeze):
                    proc.send_signal(sig)
                    if sig == signal.SIGKILL:
                        proc.wait(30)
                    else:
                        # SIGTERM: the worker may try to clean up; give it time while
                        # radosgw is still frozen, then thaw so it can finish its cleanup.
                        try:
                            proc.wait(1)
                        except subprocess.TimeoutExpired:
                            pass
            else:
                proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=120)
    assert hit, "marker %r never logged:\n%s" % (marker, (seen + err).decode()[-3000:])
    rc = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Run(rc, out.decode(), (seen + err).decode(errors="replace")), seen


@pytest.fixture(scope="module")
def body():
    return os.urandom(64 * MIB + 12345)


def setup_move(rgw, body, strategy="multipart"):
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    rgw.put(src, "big.bin", body, "application/x-kill", {"k": "1"})
    env = rgw.worker_env(SOURCE_BUCKET=src, SOURCE_KEY="big.bin", OUTPUT_BUCKET=dst,
                         OUTPUT_KEY="out/big.bin", DELETE_SOURCE="true",
                         POKY_CONCURRENCY="1", **MULTIPART)
    if strategy == "stream":
        env["POKY_SOURCE_ENDPOINT_URL_S3"] = rgw.alias_endpoint
    return src, dst, env


def check_rerun_moves(worker, rgw, env, src, dst, body):
    """A re-run with the same parameters completes the move, byte for byte."""
    run = run_worker(worker, env)
    assert run.rc == 0, run
    assert run.result["destination"] == "s3://%s/out/big.bin" % dst
    assert rgw.keys(src) == []
    assert rgw.keys(dst) == ["out/big.bin"]
    got = rgw.get(dst, "out/big.bin")
    assert len(got) == len(body) and md5(got) == md5(body)
    head = rgw.head(dst, "out/big.bin")
    assert head["ContentType"] == "application/x-kill" and head["Metadata"] == {"k": "1"}
    return run


# --------------------------------------------------------------------------- mid-multipart

@pytest.mark.parametrize("strategy,marker", [("multipart", b"part 1/13 copied"),
                                             ("stream", b"part 1/13 streamed")])
def test_sigterm_mid_multipart_then_rerun(worker, rgw, body, strategy, marker):
    src, dst, env = setup_move(rgw, body, strategy)
    run, _ = kill_at(worker, env, marker, signal.SIGTERM)
    assert run.rc == 128 + signal.SIGTERM, run
    assert run.error["code"] == "interrupted", run
    assert rgw.exists(src, "big.bin") and md5(rgw.get(src, "big.bin")) == md5(body)
    assert rgw.keys(dst) == []
    assert rgw.uploads(dst) == [], "SIGTERM left a multipart upload behind"
    check_rerun_moves(worker, rgw, env, src, dst, body)
    assert rgw.uploads(dst) == []


@pytest.mark.parametrize("strategy,marker", [("multipart", b"part 1/13 copied"),
                                             ("stream", b"part 1/13 streamed")])
def test_sigkill_mid_multipart_keeps_the_source_and_rerun_completes(worker, rgw, body,
                                                                    strategy, marker):
    src, dst, env = setup_move(rgw, body, strategy)
    run, _ = kill_at(worker, env, marker, signal.SIGKILL)
    assert run.rc == 128 + signal.SIGKILL, run
    assert run.out == ""
    # The source is intact and nothing half-made is visible as an object.
    assert md5(rgw.get(src, "big.bin")) == md5(body)
    assert rgw.keys(dst) == []
    orphans = rgw.uploads(dst)
    # A killed process cannot abort its upload: exactly the one it had begun is left.
    assert len(orphans) == 1 and orphans[0]["Key"] == "out/big.bin", orphans
    run = check_rerun_moves(worker, rgw, dict(env, POKY_LOG_LEVEL="info"), src, dst, body)
    # The re-run aborted what the killed run left (it was begun before its own upload)
    # and completed its own: nothing is left in progress.
    assert rgw.uploads(dst) == [], "the killed run's upload was not swept"
    assert "aborting an earlier run's multipart upload" in run.err, run.err[-2000:]


# --------------------------------------------------------------------------- sweeping leftovers

def test_rerun_sweeps_only_earlier_uploads_to_its_own_key(worker, rgw, body):
    """Uploads left for the exact destination key are aborted; uploads to other keys that
    merely share the prefix, and uploads in other buckets, are not."""
    src, dst, env = setup_move(rgw, body)
    other = rgw.make_bucket()
    stale = [rgw.s3.create_multipart_upload(Bucket=dst, Key="out/big.bin")["UploadId"]
             for _ in range(3)]
    # One with a part uploaded, as a killed run leaves it.
    rgw.s3.upload_part(Bucket=dst, Key="out/big.bin", UploadId=stale[0], PartNumber=1,
                       Body=b"x" * (5 * MIB))
    keep = {
        (dst, "out/big.bin.part2"):
            rgw.s3.create_multipart_upload(Bucket=dst, Key="out/big.bin.part2")["UploadId"],
        (dst, "out/big"): rgw.s3.create_multipart_upload(Bucket=dst, Key="out/big")["UploadId"],
        (other, "out/big.bin"):
            rgw.s3.create_multipart_upload(Bucket=other, Key="out/big.bin")["UploadId"],
    }
    check_rerun_moves(worker, rgw, env, src, dst, body)
    left = {(b, u["Key"]): u["UploadId"] for b in (dst, other) for u in rgw.uploads(b)}
    assert left == keep, left


def test_sweep_can_be_turned_off(worker, rgw, body):
    src, dst, env = setup_move(rgw, body)
    stale = rgw.s3.create_multipart_upload(Bucket=dst, Key="out/big.bin")["UploadId"]
    check_rerun_moves(worker, rgw, dict(env, POKY_ABORT_STALE_UPLOADS="false"), src, dst,
                      body)
    assert [u["UploadId"] for u in rgw.uploads(dst)] == [stale]
    bad = run_worker(worker, dict(env, POKY_ABORT_STALE_UPLOADS="maybe"))
    assert bad.rc == 2 and "POKY_ABORT_STALE_UPLOADS" in bad.error["error"], bad


def second_user(rgw, uid="ci-nolist"):
    """Another radosgw user (made once): its keys."""
    ak, sk = "AKID" + uid.upper().replace("-", ""), uid + "Secret"
    subprocess.run(["radosgw-admin", "-c", str(rgw.dir / "ceph.conf"), "user", "create",
                    "--uid=" + uid, "--display-name=" + uid, "--access-key=" + ak,
                    "--secret-key=" + sk], capture_output=True, check=False)
    return uid, ak, sk


def test_sweep_needs_no_list_permission_to_move(worker, rgw, body):
    """A role without s3:ListBucketMultipartUploads still moves the object: the sweep only
    warns.  radosgw judges the permission: the worker runs as a second user whom the bucket
    policies let do everything but list the destination's uploads."""
    src, dst, env = setup_move(rgw, body)
    rgw.s3.create_multipart_upload(Bucket=dst, Key="out/big.bin")
    uid, ak, sk = second_user(rgw)
    who = {"AWS": ["arn:aws:iam:::user/%s" % uid]}
    for b in (src, dst):
        stmts = [{"Effect": "Allow", "Principal": who, "Action": ["s3:*"],
                  "Resource": ["arn:aws:s3:::%s" % b, "arn:aws:s3:::%s/*" % b]}]
        if b == dst:
            stmts.append({"Effect": "Deny", "Principal": who,
                          "Action": ["s3:ListBucketMultipartUploads"],
                          "Resource": ["arn:aws:s3:::%s" % b]})
        rgw.s3.put_bucket_policy(Bucket=b, Policy=json.dumps(
            {"Version": "2012-10-17", "Statement": stmts}))
    # radosgw checks the source object's ACL on UploadPartCopy besides the policy.
    rgw.s3.put_object_acl(Bucket=src, Key="big.bin", GrantRead="id=" + uid,
                          GrantFullControl="id=" + rgw.owner_id())
    env = dict(env, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk, POKY_LOG_LEVEL="warn")
    run = run_worker(worker, env)
    assert run.rc == 0, run
    assert rgw.keys(src) == [] and rgw.keys(dst) == ["out/big.bin"]
    # The copy belongs to the user who wrote it: read it back as that user.
    as_uid = botocore.session.get_session().create_client(
        "s3", endpoint_url=rgw.endpoint, region_name=rgw.region, aws_access_key_id=ak,
        aws_secret_access_key=sk, config=Config(s3={"addressing_style": "path"}))
    got = as_uid.get_object(Bucket=dst, Key="out/big.bin")["Body"].read()
    assert md5(got) == md5(body)
    assert "could not list earlier uploads" in run.err, run.err[-2000:]
    assert "AccessDenied" in run.err, run.err[-2000:]
    assert len(rgw.uploads(dst)) == 1


# --------------------------------------------------------------------------- copy done, delete not

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_after_copy_before_delete(worker, rgw, body, sig):
    src, dst, env = setup_move(rgw, body)
    run, seen = kill_at(worker, env, b"verified: ", sig, freeze=rgw_pids(rgw))
    assert b"source deleted" not in seen
    # The copy is complete and verified; the source must still be there (it is only ever
    # deleted after the copy is verified, and the worker was stopped before that).
    got = rgw.get(dst, "out/big.bin")
    assert md5(got) == md5(body)
    if rgw.exists(src, "big.bin"):
        assert md5(rgw.get(src, "big.bin")) == md5(body)
        if sig == signal.SIGTERM:
            # Reported clearly: not a success, and the error names what happened.
            assert run.rc != 0, run
            err = run.error
            assert err["code"] in ("interrupted", "not-moved"), err
    elif sig == signal.SIGTERM:
        # SIGTERM may let the worker finish the delete it was in: then it must say so.
        assert run.rc == 0, run
        assert json.loads(run.out)["destination"].endswith("/out/big.bin")
    else:
        # The worker logs "verified" just before it sends the DELETE; when that request was
        # already on the wire as radosgw froze, radosgw carries it out after the thaw.  The
        # move happened and the destination holds the bytes (checked above); a re-run says
        # clearly that there is no source any more.
        assert run.rc == 128 + signal.SIGKILL and run.out == "", run
        again = run_worker(worker, env)
        assert again.rc == 3 and again.error["code"] == "not-found", again
    assert rgw.uploads(dst) == []
    if rgw.exists(src, "big.bin"):
        check_rerun_moves(worker, rgw, env, src, dst, body)
    assert rgw.uploads(dst) == []


# --------------------------------------------------------------------------- a stalled store

def test_stalled_stream_is_cut_and_retried(worker, rgw, body):
    """radosgw freezes mid-stream for 3 s: with POKY_STALL_SECONDS=1 the part's GET and PUT,
    moving no byte, are cut and the part retried (not held for the 15-minute request
    timeout); once radosgw thaws the move completes, byte for byte."""
    src, dst, env = setup_move(rgw, body, "stream")
    env = dict(env, POKY_STALL_SECONDS="1", AWS_MAX_ATTEMPTS="6", POKY_RETRY_BASE_MS="100",
               POKY_LOG_LEVEL="debug")
    proc = subprocess.Popen([str(worker)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = b""
    for line in proc.stderr:
        seen += line
        if b"part 1/13 streamed" in line:
            with frozen(rgw_pids(rgw)):
                time.sleep(3)
            break
    out, err = proc.communicate(timeout=180)
    text = (seen + err).decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "attempt 1/6 failed" in text, text[-3000:]
    assert json.loads(out)["strategy"] == "stream"
    assert rgw.keys(src) == [] and rgw.keys(dst) == ["out/big.bin"]
    assert md5(rgw.get(dst, "out/big.bin")) == md5(body)
    assert rgw.uploads(dst) == []


# --------------------------------------------------------------------------- secrets

def test_worker_output_never_shows_a_secret(worker, rgw):
    """Debug logging, a successful move, a refused signature and a missing object: the secret
    key (right or wrong) never appears in the worker's stdout or stderr."""
    src, dst = rgw.make_bucket(), rgw.make_bucket()
    rgw.put(src, "s.bin", os.urandom(6 * MIB))
    base = dict(SOURCE_BUCKET=src, SOURCE_KEY="s.bin", OUTPUT_BUCKET=dst,
                POKY_LOG_LEVEL="debug", **MULTIPART)
    wrong = "WrongSecretValue-1234567890abcdefXYZ"
    runs = [
        run_worker(worker, rgw.worker_env(**base)),
        run_worker(worker, rgw.worker_env(**dict(base, AWS_SECRET_ACCESS_KEY=wrong))),
        run_worker(worker, rgw.worker_env(**dict(base, AWS_SESSION_TOKEN="SessTokWorker-42abc",
                                                 SOURCE_KEY="s.bin"))),
        run_worker(worker, rgw.worker_env(**dict(base, SOURCE_KEY="missing.bin",
                                                 DELETE_SOURCE="true"))),
    ]
    assert runs[0].rc == 0, runs[0]
    assert runs[1].rc != 0 and runs[3].rc != 0
    assert "debug" in runs[0].err.lower() or len(runs[0].err.splitlines()) > 2, runs[0]
    for run in runs:
        text = run.out + run.err
        for secret in (rgw.secret_key, wrong, "SessTokWorker-42abc"):
            assert secret not in text, "secret in the worker's output: %r" % text[-2000:]
