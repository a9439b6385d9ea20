#!/usr/bin/python3
"""Fake Amazon S3 that answers only existence checks (HeadBucket, HeadObject); botocore judges
the signatures.

    /usr/bin/python3 test/fakes/fake_s3_head.py --port 0 --port-file FILE \
        [--config '{"buckets": {"in": ["test_file.txt"], "out": []}}']

pokyd's `s3=bucket` / `s3=object:PARAM` parameters ask S3 whether a bucket or an object exists
before a launch, as the original Poky did.  This fake is enough for those checks when radosgw is
too heavy for a test: point AWS_ENDPOINT_URL_S3 at it.

Requests (path-style, as SDKs use with a custom endpoint; virtual-hosted Host "bucket.HOST" is
understood too):
    HEAD /BUCKET            200 if the bucket is configured, else 404 (403 if "forbidden")
    HEAD /BUCKET/KEY        200 (with Content-Length, ETag, Last-Modified) if KEY is one of the
                            bucket's keys, else 404; 404 NoSuchBucket-like when the bucket is
                            unknown; 403 for a forbidden bucket
    anything else           501 NotImplemented (XML error document)

Signature: SigV4 for service "s3", checked with botocore's ``S3SigV4Auth`` (the path is signed
as sent, never normalised; X-Amz-Content-SHA256 is required and may be ``UNSIGNED-PAYLOAD`` or
the body's SHA-256).  A bad signature answers 403 SignatureDoesNotMatch (HEAD answers carry no
body, as S3's do; the error code is in ``x-amz-error-code`` for tests to read, and in the call
log's auth_error).

Config (POST /_fake/config; shallow merge):
    buckets             {"bucket": ["key", ...]}      default {}
    forbidden           ["bucket", ...]               HEAD on these answers 403
    credentials, session_tokens, region, clock_skew_seconds   as in common.py

Control API: common.py's (/_fake/calls, /_fake/faults with op HeadBucket or HeadObject, ...).
Each call in /_fake/calls also has "bucket" and "key" (null for a bucket), decoded.
Steady latency and throttling as in common.py, e.g. {"latency": {"HeadBucket": 0.02,
"HeadObject": 0.02}}; a throttled HEAD answers 503 (x-amz-error-code SlowDown), as S3 does.
"""

import hashlib
import hmac
import sys
from urllib.parse import unquote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

try:
    from . import common
except ImportError:
    import common

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def verify_s3_sigv4(app, req):
    """Check req's Authorization the way S3 does, with botocore's S3SigV4Auth as the judge.
    Returns the parsed Authorization; raises common.AuthFailure."""
    auth = common.parse_authorization(req.header("authorization"))
    req.auth = auth
    amzdate = req.header("x-amz-date")
    if amzdate is None:
        raise common.AuthFailure("incomplete", "X-Amz-Date is required")
    try:
        req_time = common.parse_amz_date(amzdate)
    except ValueError:
        raise common.AuthFailure("incomplete", "X-Amz-Date %r is malformed" % amzdate)
    ak = auth["access_key"]
    cfg = app.config
    secret = (cfg.get("credentials") or {}).get(ak)
    token = (cfg.get("session_tokens") or {}).get(ak)
    if secret is None:
        entry = common.shared_credential(ak, app.creds_file)
        if entry is None:
            raise common.AuthFailure("unknown_key", "The AWS Access Key Id you provided does "
                                                    "not exist in our records.")
        secret, token = entry["secret"], entry.get("token")
    if token is not None and req.header("x-amz-security-token") != token:
        raise common.AuthFailure("bad_token", "The provided token is malformed or otherwise "
                                              "invalid.")
    now = app.now()
    if abs(req_time - now) > common.MAX_SKEW_SECONDS:
        raise common.AuthFailure("expired", "RequestTimeTooSkewed")
    if auth["date"] != amzdate[:8] or auth["service"] != "s3" or \
            auth["region"] != cfg.get("region", "us-east-1"):
        raise common.AuthFailure("scope", "Credential scope %s/%s/%s does not match %s/%s/s3"
                                 % (auth["date"], auth["region"], auth["service"], amzdate[:8],
                                    cfg.get("region", "us-east-1")))
    content_sha = req.header("x-amz-content-sha256")
    if content_sha is None:
        raise common.AuthFailure("mismatch", "Missing required header for this request: "
                                             "x-amz-content-sha256")
    if content_sha != UNSIGNED_PAYLOAD and \
            content_sha.lower() != hashlib.sha256(req.body).hexdigest():
        raise common.AuthFailure("mismatch", "XAmzContentSHA256Mismatch")
    signed = [h.strip().lower() for h in auth["signed_headers"].split(";") if h.strip()]
    for must in ("host", "x-amz-date", "x-amz-content-sha256"):
        if must not in signed:
            raise common.AuthFailure("mismatch", "%s must be signed" % must)
    url = "http://" + req.host + req.raw_path + ("?" + req.raw_query if req.raw_query else "")
    areq = AWSRequest(method=req.method, url=url, data=req.body)
    for name in signed:
        values = req.headers.get_all(name)
        if values is None:
            raise common.AuthFailure("mismatch", "signed header %s is missing" % name)
        for value in values:
            areq.headers[name] = value
    areq.context["timestamp"] = amzdate
    signer = S3SigV4Auth(Credentials(ak, secret, token), "s3", auth["region"])
    canonical = signer.canonical_request(areq)
    string_to_sign = signer.string_to_sign(areq, canonical)
    expected = signer.signature(string_to_sign, areq)
    expected_signed = signer.signed_headers(signer.headers_to_sign(areq))
    if not hmac.compare_digest(expected, auth["signature"]) or \
            expected_signed != auth["signed_headers"]:
        raise common.AuthFailure("mismatch", "SignatureDoesNotMatch\n\nCanonical request:\n%s"
                                 "\n\nString to sign:\n%s" % (canonical, string_to_sign))
    return auth


class S3HeadApp(common.FakeApp):
    name = "fake_s3_head"
    signing_service = "s3"
    THROTTLE = (503, "SlowDown", "Please reduce your request rate.")   # S3's answer
    DEFAULT_CONFIG = {"buckets": {}, "forbidden": []}

    def _target(self, req):
        """(bucket, key or None) of a path-style or virtual-hosted request."""
        host = req.host.split(":")[0]
        path = unquote(req.raw_path)
        buckets = self.config.get("buckets") or {}
        for name in list(buckets) + list(self.config.get("forbidden") or []):
            if host.startswith(name + "."):
                key = path[1:]
                return name, key or None
        parts = path[1:].split("/", 1)
        bucket = parts[0]
        key = parts[1] if len(parts) > 1 and parts[1] != "" else None
        return bucket, key

    def classify(self, req):
        if req.method != "HEAD":
            return (req.method + " (not implemented)"), False
        _, key = self._target(req)
        return ("HeadObject" if key is not None else "HeadBucket"), False

    def record_extra(self, req, call):
        # S3's signing rules differ from the generic ones: check them here so the call log
        # shows the result, and handle_op refuses a bad signature.
        req.s3_auth_failure = None
        call["bucket"], call["key"] = self._target(req)
        try:
            auth = verify_s3_sigv4(self, req)
            call["signature_ok"] = True
            call["access_key"] = auth["access_key"]
            call["signed_headers"] = auth["signed_headers"].split(";")
        except common.AuthFailure as failure:
            req.s3_auth_failure = failure
            call["signature_ok"] = False
            call["auth_error"] = failure.kind + ": " + failure.message.split("\n")[0]

    def error_response(self, status, code, message, req):
        body = b"" if req.method == "HEAD" else (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
            '</Message><RequestId>%s</RequestId></Error>' % (code, message, req.request_id)
        ).encode()
        return common.Response(status, body, "application/xml",
                               [("x-amz-request-id", req.request_id),
                                ("x-amz-error-code", code)])

    def handle_op(self, req, op):
        failure = getattr(req, "s3_auth_failure", None)
        if failure is not None:
            code = {"unknown_key": "InvalidAccessKeyId", "expired": "RequestTimeTooSkewed",
                    "bad_token": "InvalidToken"}.get(failure.kind, "SignatureDoesNotMatch")
            raise common.ApiError(403, code, failure.message.split("\n")[0])
        if req.method != "HEAD":
            raise common.ApiError(501, "NotImplemented", "fake_s3_head answers HEAD only")
        bucket, key = self._target(req)
        with self.lock:
            buckets = self.config.get("buckets") or {}
            forbidden = self.config.get("forbidden") or []
            if bucket in forbidden:
                raise common.ApiError(403, "AccessDenied", "Access Denied")
            if bucket not in buckets:
                raise common.ApiError(404, "NoSuchBucket", "The specified bucket does not exist")
            if key is None:
                return common.Response(200, b"", "application/xml",
                                       [("x-amz-request-id", req.request_id),
                                        ("x-amz-bucket-region",
                                         self.config.get("region", "us-east-1"))])
            if key not in (buckets[bucket] or []):
                raise common.ApiError(404, "NoSuchKey", "The specified key does not exist.")
        etag = '"%s"' % hashlib.md5(("%s/%s" % (bucket, key)).encode()).hexdigest()
        resp = common.Response(200, b"", "binary/octet-stream",
                               [("x-amz-request-id", req.request_id), ("ETag", etag),
                                ("Last-Modified", self.http_date()),
                                ("Accept-Ranges", "bytes")])
        return resp


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the S3HeadApp."""
    return common.start_server(S3HeadApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(S3HeadApp, "Fake S3 for HeadBucket/HeadObject (SigV4 judged by "
                                    "botocore's S3SigV4Auth)"))
