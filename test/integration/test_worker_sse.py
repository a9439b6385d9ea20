"""poky-worker streaming (GET -> PUT between endpoints) to a destination encrypted the way AWS
answers it: with SSE-KMS every ETag S3 gives is opaque, not the MD5 of the bytes, and the
answers say `x-amz-server-side-encryption: aws:kms`.  radosgw computes MD5 ETags even when it
encrypts, so these tests use test/fakes/fake_s3.py, which does what AWS does.

The source is the fake reached as http://localhost:PORT (POKY_SOURCE_ENDPOINT_URL_S3), the
destination the same fake as http://127.0.0.1:PORT (AWS_ENDPOINT_URL_S3): two endpoints as far
as the worker can tell, so it streams.  Outcomes are judged with botocore and the fake's call
log, never with the worker's own client.
"""
import hashlib
import os

import botocore.exceptions
import botocore.session
import pytest
from botocore.config import Config

from pokyd import AWS_KEY, AWS_SECRET, FakeService
from test_worker import MULTIPART, md5, run_worker, worker  # noqa: F401

MIB = 1 << 20
PART = 5 * MIB
BUCKETS = {"src": {"encryption": None}, "kms": {"encryption": "aws:kms"},
           "sse-s3": {"encryption": "AES256"}, "plain": {"encryption": None}}
SRC_KEY, DST_KEY = "in/data file.bin", "out/moved.bin"
CONTENT_TYPE = "application/x-poky"
WRONG_ETAG = '"%s"' % ("0" * 32)

# What each shape of stream needs: one PutObject (the object fits in a part), or three parts.
SHAPES = {
    "single": (3 * MIB + 17, {"POKY_PART_SIZE": str(PART)}),
    "multipart": (2 * PART + 2 * MIB + 5, dict(MULTIPART)),
}


@pytest.fixture(scope="module")
def fake_s3_sse(tmp_path_factory):
    f = FakeService("fake_s3.py", tmp_path_factory.mktemp("fake_s3"),
                    config={"buckets": BUCKETS}).start()
    yield f
    f.stop()


class S3:
    """The fake, fresh for a test, and a botocore client to judge with."""

    def __init__(self, fake):
        self.fake = fake
        self.port = fake.port
        self.client = botocore.session.get_session().create_client(
            "s3", endpoint_url="http://127.0.0.1:%d" % fake.port, region_name="us-east-1",
            aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_SECRET,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                          retries={"total_max_attempts": 1}))

    def put(self, bucket, key, body, content_type=None, metadata=None):
        kw = {"Bucket": bucket, "Key": key, "Body": body}
        if content_type:
            kw["ContentType"] = content_type
        if metadata:
            kw["Metadata"] = metadata
        return self.client.put_object(**kw)

    def get(self, bucket, key):
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def head(self, bucket, key):
        return self.client.head_object(Bucket=bucket, Key=key)

    def exists(self, bucket, key):
        try:
            self.head(bucket, key)
            return True
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return False
            raise

    def keys(self, bucket):
        return [o["Key"] for o in self.client.list_objects_v2(Bucket=bucket).get("Contents", [])]

    def uploads(self, bucket):
        return self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])

    def calls(self, op=None):
        return self.fake.calls(op)

    def worker_env(self, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_ACCESS_KEY_ID": AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:%d" % self.port,
            "POKY_SOURCE_ENDPOINT_URL_S3": "http://localhost:%d" % self.port,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/poky-test-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/poky-test-credentials",
            "POKY_RETRY_BASE_MS": "50",
            "POKY_LOG_LEVEL": "debug",
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        env.update({k: str(v) for k, v in extra.items()})
        return env


@pytest.fixture
def s3(fake_s3_sse):
    fake_s3_sse.reset()
    return S3(fake_s3_sse)


def multipart_etag(body, part_size):
    """S3's ETag of an unencrypted multipart object: MD5 of the part MD5s, "-N"."""
    digests = [hashlib.md5(body[i:i + part_size]).digest()
               for i in range(0, len(body), part_size)]
    return "%s-%d" % (hashlib.md5(b"".join(digests)).hexdigest(), len(digests))


def md5_etag(body, shape):
    return md5(body) if shape == "single" else multipart_etag(body, PART)


def bare(etag):
    return etag.strip('"')


def seed_source(s3, shape, tag):
    size, env = SHAPES[shape]
    body = os.urandom(size)
    meta = {"owner": "poky", "case": tag}
    s3.put("src", SRC_KEY, body, CONTENT_TYPE, meta)
    return body, meta, env


def of(calls, op):
    return [c for c in calls if c["op"] == op]


def written_calls(calls, shape, dst):
    """The PutObject / UploadPart calls to the destination, in order of part."""
    op = "PutObject" if shape == "single" else "UploadPart"
    calls = [c for c in of(calls, op) if c["path"].startswith("/%s/" % dst)]
    return sorted(calls, key=lambda c: int((c["query"].get("partNumber") or ["0"])[0]))


# ---- the destination encrypts, or not: a move must work either way ---------------------

DESTINATIONS = ["kms", "sse-s3", "plain"]


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("dst", DESTINATIONS)
def test_stream_move(worker, s3, dst, shape):
    """A verified move to a destination whose ETags are opaque (SSE-KMS) or MD5s (SSE-S3,
    none): bytes, type and metadata arrive, the source is gone, nothing is left open."""
    body, meta, env = seed_source(s3, shape, "%s-%s" % (dst, shape))
    run = run_worker(worker, s3.worker_env(
        SOURCE_BUCKET="src", SOURCE_KEY=SRC_KEY, OUTPUT_BUCKET=dst, OUTPUT_KEY=DST_KEY,
        DELETE_SOURCE="true", **env))
    calls = s3.calls()[1:]              # what the worker did (after the seeding PutObject)
    assert run.rc == 0, run
    r = run.result
    assert r["strategy"] == "stream"
    assert r["source"] == "s3://src/" + SRC_KEY and r["destination"] == "s3://%s/%s" % (dst,
                                                                                        DST_KEY)
    assert r["bytes"] == len(body)

    head = s3.head(dst, DST_KEY)
    assert head["ContentLength"] == len(body)
    assert head["ContentType"] == CONTENT_TYPE
    assert head["Metadata"] == meta
    assert r["etag"] == bare(head["ETag"])         # the summary gives what S3 keeps
    assert s3.get(dst, DST_KEY) == body
    if dst == "kms":
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"].startswith("arn:aws:kms:")
        assert bare(head["ETag"]) != md5_etag(body, shape)      # opaque, as on AWS
        if shape == "multipart":
            assert bare(head["ETag"]).endswith("-3")
    else:
        assert head.get("ServerSideEncryption") == ("AES256" if dst == "sse-s3" else None)
        assert bare(head["ETag"]) == md5_etag(body, shape)

    assert not s3.exists("src", SRC_KEY)            # moved
    assert s3.keys("src") == [] and s3.keys(dst) == [DST_KEY]
    assert s3.uploads(dst) == []

    # What the fake saw: all signed, the bytes really were streamed by ranged GETs, and the
    # ETags answered for what was written were (kms) / were not (others) opaque.
    assert calls and all(c["signature_ok"] for c in calls), \
        [c for c in calls if not c["signature_ok"]][:2]
    assert all(c["status"] in (200, 204, 206) for c in calls), \
        [(c["op"], c["status"]) for c in calls]
    gets = of(calls, "GetObject")
    assert gets and all(c["path"].startswith("/src/") for c in gets)
    assert all(c["headers"]["host"] == "localhost:%d" % s3.port for c in gets)
    if shape == "multipart":
        assert sorted(c["headers"]["range"] for c in gets) == [
            "bytes=0-5242879", "bytes=10485760-%d" % (len(body) - 1), "bytes=5242880-10485759"]
        assert len(of(calls, "CompleteMultipartUpload")) == 1
        # The sweep for earlier uploads found ours (Initiated parsed, to the millisecond).
        assert of(calls, "ListMultipartUploads") and "not listed yet" not in run.err
    written = written_calls(calls, shape, dst)
    assert len(written) == (1 if shape == "single" else 3)
    for c in written:
        answered = c["response_headers"]
        assert c["status"] == 200
        if dst == "kms":
            assert answered["x-amz-server-side-encryption"] == "aws:kms"
            assert bare(answered["etag"]) != c["body"]["md5"]
        else:
            assert bare(answered["etag"]) == c["body"]["md5"]
    assert [c["path"] for c in of(calls, "DeleteObject")] == ["/src/in/data%20file.bin"]


# ---- the check still bites where ETags are MD5s ---------------------------------------------

@pytest.mark.parametrize("shape", list(SHAPES))
def test_wrong_etag_from_plain_destination_fails_verification(worker, s3, shape):
    """An unencrypted destination answers one PutObject / UploadPart with an ETag that is not
    the MD5 of what was sent (and no encryption header): exit 6, the source stays, no
    multipart upload is left open."""
    body, _, env = seed_source(s3, shape, "wrong-etag")
    op = "PutObject" if shape == "single" else "UploadPart"
    # The part is stored for real; only the answer's ETag is wrong.  (The source's own
    # PutObject is done: the next one is the worker's.)
    s3.fake.faults(op, [{"headers": {"ETag": WRONG_ETAG}}])
    run = run_worker(worker, s3.worker_env(
        SOURCE_BUCKET="src", SOURCE_KEY=SRC_KEY, OUTPUT_BUCKET="plain", OUTPUT_KEY=DST_KEY,
        DELETE_SOURCE="true", **env))
    assert run.rc == 6, run
    err = run.error
    assert err["code"] == "verification-failed" and err["exit"] == 6
    assert "is not the MD5" in err["error"] and WRONG_ETAG in err["error"]
    assert run.out == ""
    assert s3.get("src", SRC_KEY) == body              # the source stays
    assert s3.calls("DeleteObject") == []
    assert s3.uploads("plain") == []
    faulted = [c for c in s3.calls(op) if c["fault"]]
    assert len(faulted) == 1 and faulted[0]["response_headers"]["etag"] == WRONG_ETAG
    if shape == "multipart":
        assert len(s3.calls("AbortMultipartUpload")) >= 1
        assert s3.calls("CompleteMultipartUpload") == []
        assert s3.keys("plain") == []

