"""A real S3 for the tests: Ceph's RADOS Gateway, started once per session.

`rgw` is a session-scoped fixture: it runs `test/rgw.sh start` on a free port
(installing radosgw with apt-get the first time), yields an `Rgw` with the
endpoint and keys, and stops it at the end.  Tests judge what our code did
through botocore, never through our own client.

Use it from a test module with `from rgw import rgw  # noqa: F401`.
"""
import itertools
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import uuid

import botocore.session
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
RGW_SH = ROOT / "test" / "rgw.sh"

ACCESS_KEY = "AKIDRGWTEST01"
SECRET_KEY = "rgwSecret"
REGION = "us-east-1"
MEMSTORE_BYTES = 1536 << 20            # objects live in the OSD's RAM


def free_port(exclude=()) -> int:
    """A TCP port nothing listens on right now (racy, but good enough here)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in exclude and port < 65000:
            return port


class Rgw:
    """A running radosgw: where it is, and botocore helpers to look at it."""

    _names = itertools.count(1)

    def __init__(self, directory: pathlib.Path, port: int):
        self.dir = directory
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        # The same gateway under another name: a different endpoint as far as
        # the worker can tell, which makes it stream instead of copy.
        self.alias_endpoint = f"http://localhost:{port}"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self._client = None

    # ---- botocore, the judge ----------------------------------------------
    def client(self, secret_key=None, **config):
        cfg = Config(s3={"addressing_style": "path"},
                     retries={"max_attempts": 2, "mode": "standard"},
                     signature_version="s3v4", **config)
        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key, config=cfg)

    @property
    def s3(self):
        if self._client is None:
            self._client = self.client()
        return self._client

    def make_bucket(self, prefix="t", versioned=False) -> str:
        name = f"{prefix}{next(self._names)}-{uuid.uuid4().hex[:10]}"
        self.s3.create_bucket(Bucket=name)
        if versioned:
            self.s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def put(self, bucket, key, body: bytes, content_type=None, metadata=None):
        kw = {"Bucket": bucket, "Key": key, "Body": body}
        if content_type:
            kw["ContentType"] = content_type
        if metadata:
            kw["Metadata"] = metadata
        return self.s3.put_object(**kw)

    def get(self, bucket, key) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def head(self, bucket, key) -> dict:
        return self.s3.head_object(Bucket=bucket, Key=key)

    def exists(self, bucket, key) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def keys(self, bucket) -> list:
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    def owner_id(self) -> str:
        """The canonical id of the tests' own user."""
        return self.s3.list_buckets()["Owner"]["ID"]

    def uploads(self, bucket) -> list:
        """Multipart uploads still in progress (ListMultipartUploads)."""
        return self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])

    def worker_env(self, **extra) -> dict:
        """A clean environment for poky-worker: this gateway and its keys,
        nothing from the caller's AWS setup."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/poky-test-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/poky-test-credentials",
            "POKY_RETRY_BASE_MS": "50",
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        env.update({k: str(v) for k, v in extra.items() if v is not None})
        return env


@pytest.fixture(scope="session")
def rgw():
    directory = pathlib.Path(tempfile.mkdtemp(prefix="poky-rgw-"))
    port = free_port()
    mon_port = free_port(exclude={port, port + 1})
    env = dict(os.environ, RGW_MON_PORT=str(mon_port),
               RGW_MEMSTORE_BYTES=str(MEMSTORE_BYTES),
               S3_ACCESS_KEY=ACCESS_KEY, S3_SECRET_KEY=SECRET_KEY)
    proc = subprocess.run([str(RGW_SH), "start", str(directory), str(port)],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        logs = ""
        for log in sorted(directory.glob("*.log")):
            logs += f"\n--- {log.name} (tail)\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-15:])
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"radosgw did not start (exit {proc.returncode}):\n"
                    f"{proc.stderr[-3000:]}{logs}")
    try:
        yield Rgw(directory, port)
    finally:
        subprocess.run([str(RGW_SH), "stop", str(directory)], timeout=120,
                       capture_output=True)
