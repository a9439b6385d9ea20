#!/usr/bin/python3
"""Fake Amazon S3 that keeps objects in memory and answers like AWS under SSE-KMS: enough of S3
for poky-worker's stream path (GET -> PUT between endpoints) and for botocore.

    /usr/bin/python3 test/fakes/fake_s3.py --port 0 --port-file FILE \
        [--config '{"buckets": {"src": {}, "kms": {"encryption": "aws:kms"}}}']

Why: radosgw, the real S3 of the other tests, answers MD5 ETags even when it encrypts.  On AWS
an object encrypted with SSE-KMS (or SSE-C) has an ETag that is NOT the MD5 of its bytes, and the
answers say so with ``x-amz-server-side-encryption: aws:kms``.  This fake does what AWS does, so
a test can show how a client copes.

Requests (path-style, as SDKs use with a custom endpoint; a virtual-hosted Host "bucket.HOST" is
understood too for configured buckets).  Shapes follow botocore's S3 model (service-2.json), so
botocore parses every answer:
    HEAD   /B                               HeadBucket
    GET    /B?list-type=2                   ListObjectsV2 (prefix, delimiter, max-keys,
                                            continuation-token, start-after, encoding-type=url)
    GET    /B?uploads                       ListMultipartUploads (prefix, key-marker,
                                            upload-id-marker, max-uploads, encoding-type=url);
                                            Initiated carries milliseconds
    HEAD   /B/K                             HeadObject (If-Match, If-None-Match)
    GET    /B/K                             GetObject (Range: bytes=a-b | a- | -n -> 206 with
                                            Content-Range; 416 InvalidRange; If-Match ->
                                            412 PreconditionFailed, If-None-Match -> 304)
    PUT    /B/K                             PutObject (Content-MD5 checked: BadDigest)
    POST   /B/K?uploads                     CreateMultipartUpload
    PUT    /B/K?partNumber=N&uploadId=U     UploadPart
    POST   /B/K?uploadId=U                  CompleteMultipartUpload: the part list is checked as
                                            S3 does (MalformedXML, InvalidPartOrder, InvalidPart
                                            for a part never uploaded or an ETag that is not the
                                            part's, EntityTooSmall for a part but the last under
                                            config min_part_size)
    DELETE /B/K?uploadId=U                  AbortMultipartUpload (204; NoSuchUpload)
    DELETE /B/K                             DeleteObject (204, also when the key is missing)
    anything else                           501 NotImplemented (XML error document), e.g.
                                            CopyObject, UploadPartCopy, versioning, SSE-C
Objects keep Content-Type (default binary/octet-stream), Content-Encoding, Cache-Control,
Content-Disposition, Content-Language, Expires and x-amz-meta-* (names lower-cased, as S3 does);
GET and HEAD give them back with Content-Length, ETag, Last-Modified and Accept-Ranges.

Encryption, per bucket (config ``buckets``), or per request with an
``x-amz-server-side-encryption`` header on PutObject / CreateMultipartUpload:
    null        no encryption header; ETags are S3's: the MD5 of the bytes, and for a multipart
                object the MD5 of the concatenated binary part MD5s + "-N"
    "AES256"    SSE-S3: answers carry x-amz-server-side-encryption: AES256; ETags as above
    "aws:kms"   SSE-KMS (also "aws:kms:dsse"): every ETag given for an object or a part is
                random 32 hex (multipart objects "<hex>-N"), never the MD5; the answers of
                PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload,
                HeadObject and GetObject carry x-amz-server-side-encryption and
                x-amz-server-side-encryption-aws-kms-key-id
A PutObject or CreateMultipartUpload with SSE-C headers (x-amz-server-side-encryption-customer-*)
answers 501: SSE-C is not modelled.

Signature: SigV4 for service "s3", checked by fake_s3_head.verify_s3_sigv4 (botocore's
S3SigV4Auth is the judge; X-Amz-Content-SHA256 required, UNSIGNED-PAYLOAD or the body's
SHA-256).  Refusals: 403 SignatureDoesNotMatch / InvalidAccessKeyId / InvalidToken /
RequestTimeTooSkewed, 400 XAmzContentSHA256Mismatch.

Config (POST /_fake/config; shallow merge: "buckets" is replaced whole):
    buckets         {"name": {"encryption": null | "AES256" | "aws:kms" | "aws:kms:dsse",
                              "kms_key_id": "arn:..." (optional)}}            default {}
    max_bytes       bytes of object and part data kept in memory      default 512 MiB; a write
                    that would go past it answers 400 EntityTooLarge
    min_part_size   smallest part but the last CompleteMultipartUpload accepts   default 5 MiB
    credentials, session_tokens, region, clock_skew_seconds, account_id   as in common.py
Objects of a bucket dropped from the config stay in memory until POST /_fake/reset, but answer
NoSuchBucket.

Control API: common.py's, plus
    GET /_fake/objects      {"bucket": {"key": {size, etag, md5, sse, kms_key_id, content_type,
                             metadata, parts}}}
    GET /_fake/uploads      [{bucket, key, upload_id, initiated, sse, parts: {N: {size, etag}}}]
Call log (/_fake/calls): bodies of PutObject and UploadPart are recorded as {"bytes": N,
"md5": hex}, others as text; each call also has "response_headers": the answer's ETag and
x-amz-server-side-encryption* headers (lower-case names), so a test can see what was answered.
Faults (/_fake/faults; op names as above): as in common.py, except that a fault's "headers"
REPLACE the answer's headers of the same names instead of adding a second copy - so
{"headers": {"ETag": "\\"00000000000000000000000000000000\\""}} makes one answer carry a wrong ETag
(the part or object is stored for real).
"""

import base64
import datetime
import email.utils
import hashlib
import os
import sys
import xml.etree.ElementTree as ElementTree
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

try:
    from . import common
    from .fake_s3_head import verify_s3_sigv4
except ImportError:
    import common
    from fake_s3_head import verify_s3_sigv4

MIB = 1 << 20
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEY_BYTES = 1024
MAX_PARTS = 10000
SSE_VALUES = ("AES256", "aws:kms", "aws:kms:dsse")
KMS_KEY_UUID = "0b9d6a3e-5f1c-4e7a-9d2b-6c8f1a2e3d4f"
OBJECT_HEADERS = ("content-encoding", "cache-control", "content-disposition",
                  "content-language", "expires")
DATA_OPS = ("PutObject", "UploadPart")
RECORDED_RESPONSE_HEADERS = ("etag", "x-amz-server-side-encryption",
                             "x-amz-server-side-encryption-aws-kms-key-id")
SSE_C_HEADER = "x-amz-server-side-encryption-customer-algorithm"


def _xml(root, children):
    """An S3 XML document: root element with S3's namespace and escaped text children.
    children: list of (name, text | list-of-children | None)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s">%s</%s>'
            % (root, S3_NS, _xml_items(children), root))


def _xml_items(children):
    out = []
    for name, value in children:
        if value is None:
            continue
        if isinstance(value, list):
            out.append("<%s>%s</%s>" % (name, _xml_items(value), name))
        else:
            if isinstance(value, bool):
                value = "true" if value else "false"
            out.append("<%s>%s</%s>" % (name, escape(str(value), {'"': "&quot;"}), name))
    return "".join(out)


def iso8601_ms(epoch):
    dt = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


def opaque(sse):
    return bool(sse) and sse.startswith("aws:kms")


def random_hex():
    return os.urandom(16).hex()


def bare(etag):
    return (etag or "").strip().strip('"')


class Obj:
    def __init__(self, data, etag, headers, sse, kms_key_id, when, parts=0):
        self.data = data
        self.etag = etag                # quoted
        self.headers = headers          # {"content-type": ..., "x-amz-meta-a": ...}
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.last_modified = when
        self.parts = parts

    def describe(self):
        return {"size": len(self.data), "etag": self.etag,
                "md5": hashlib.md5(self.data).hexdigest(), "sse": self.sse,
                "kms_key_id": self.kms_key_id,
                "content_type": self.headers.get("content-type"),
                "metadata": {k[len("x-amz-meta-"):]: v for k, v in self.headers.items()
                             if k.startswith("x-amz-meta-")},
                "parts": self.parts}


class Upload:
    def __init__(self, bucket, key, upload_id, headers, sse, kms_key_id, when):
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.headers = headers
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.initiated = when
        self.parts = {}                 # number -> (quoted etag, data)

    def describe(self):
        return {"bucket": self.bucket, "key": self.key, "upload_id": self.upload_id,
                "initiated": iso8601_ms(self.initiated), "sse": self.sse,
                "parts": {str(n): {"size": len(d), "etag": e}
                          for n, (e, d) in sorted(self.parts.items())}}


class S3App(common.FakeApp):
    name = "fake_s3"
    signing_service = "s3"
    THROTTLE = (503, "SlowDown", "Please reduce your request rate.")   # S3's answer
    DEFAULT_CONFIG = {"buckets": {}, "max_bytes": 512 * MIB, "min_part_size": 5 * MIB}

    def reset_state(self):
        self.objects = {}               # bucket -> {key: Obj}
        self.uploads = {}               # upload id -> Upload
        self.stored = 0                 # bytes of objects and parts

    # ---- routing
    def _target(self, req):
        """(bucket, key or None) of a path-style or virtual-hosted request."""
        host = req.host.split(":")[0]
        path = unquote(req.raw_path)
        for name in self.config.get("buckets") or {}:
            if host.startswith(name + "."):
                return name, path[1:] or None
        bucket, _, key = path[1:].partition("/")
        return bucket, key or None

    def classify(self, req):
        bucket, key = self._target(req)
        q, m = req.query, req.method
        if not bucket:
            op = m + " / (not implemented)"
        elif key is None:
            if m == "HEAD":
                op = "HeadBucket"
            elif m == "GET" and "uploads" in q:
                op = "ListMultipartUploads"
            elif m == "GET" and q.get("list-type") == ["2"]:
                op = "ListObjectsV2"
            else:
                op = m + " bucket (not implemented)"
        elif m == "HEAD":
            op = "HeadObject"
        elif m == "GET":
            op = "GetObject"
        elif m == "PUT" and "uploadId" in q:
            op = "UploadPartCopy" if req.header("x-amz-copy-source") else "UploadPart"
        elif m == "PUT":
            op = "CopyObject" if req.header("x-amz-copy-source") else "PutObject"
        elif m == "POST" and "uploads" in q:
            op = "CreateMultipartUpload"
        elif m == "POST" and "uploadId" in q:
            op = "CompleteMultipartUpload"
        elif m == "DELETE" and "uploadId" in q:
            op = "AbortMultipartUpload"
        elif m == "DELETE":
            op = "DeleteObject"
        else:
            op = m + " object (not implemented)"
        req.bucket, req.key = bucket, key
        if op in DATA_OPS:
            # Object bytes are summarised in the call log, never kept as text.
            body = req.body
            req.body_for_record = lambda: {"bytes": len(body),
                                           "md5": hashlib.md5(body).hexdigest()}
        else:
            req.body_for_record = lambda: req.body_text() if req.body else None
        # Signed, but checked with S3's rules in record_extra (as fake_s3_head does).
        return op, False

    def record_extra(self, req, call):
        req.call = call
        req.s3_auth_failure = None
        try:
            auth = verify_s3_sigv4(self, req)
            call["signature_ok"] = True
            call["access_key"] = auth["access_key"]
            call["signed_headers"] = auth["signed_headers"].split(";")
        except common.AuthFailure as failure:
            req.s3_auth_failure = failure
            call["signature_ok"] = False
            call["auth_error"] = failure.kind + ": " + failure.message.split("\n")[0]

    def dispatch(self, req):
        resp = super().dispatch(req)
        # A fault's "headers" replace the answer's own headers of those names (common.py
        # appends them): keep the last of each name.
        last = {}
        for i, (name, _) in enumerate(resp.headers):
            last[name.lower()] = i
        resp.headers = [h for i, h in enumerate(resp.headers) if last[h[0].lower()] == i]
        call = getattr(req, "call", None)
        if call is not None:
            with self.lock:
                call["response_headers"] = {k.lower(): v for k, v in resp.headers
                                            if k.lower() in RECORDED_RESPONSE_HEADERS}
        return resp

    # ---- errors
    def error_response(self, status, code, message, req, extra_headers=None):
        headers = [("x-amz-request-id", req.request_id), ("x-amz-id-2", req.request_id),
                   ("x-amz-error-code", code)] + list(extra_headers or [])
        if req.method == "HEAD":         # S3's HEAD answers have no body
            return common.Response(status, b"", "application/xml", headers)
        children = [("Code", code), ("Message", message)]
        bucket, key = getattr(req, "bucket", None), getattr(req, "key", None)
        if code == "NoSuchBucket":
            children.append(("BucketName", bucket))
        elif code == "NoSuchKey":
            children.append(("Key", key))
        elif code == "NoSuchUpload":
            children.append(("UploadId", (req.query.get("uploadId") or [""])[0]))
        children += [("RequestId", req.request_id), ("HostId", req.request_id)]
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>%s</Error>' % _xml_items(children)
        return common.Response(status, body, "application/xml", headers)

    def fault_error_type(self, status):
        return {500: "InternalError", 503: "SlowDown", 403: "AccessDenied",
                404: "NoSuchKey"}.get(status, "InternalError" if status >= 500
                                      else "InvalidRequest")

    # ---- helpers
    def _headers(self, req, extra=None):
        h = [("x-amz-request-id", req.request_id), ("x-amz-id-2", req.request_id)]
        return h + list(extra or [])

    def _sse_headers(self, sse, kms_key_id):
        if not sse:
            return []
        h = [("x-amz-server-side-encryption", sse)]
        if opaque(sse):
            h.append(("x-amz-server-side-encryption-aws-kms-key-id", kms_key_id))
        return h

    def _bucket_conf(self, bucket):
        buckets = self.config.get("buckets") or {}
        if bucket not in buckets:
            raise common.ApiError(404, "NoSuchBucket", "The specified bucket does not exist")
        conf = buckets[bucket]
        return conf if isinstance(conf, dict) else {}

    def _default_key_id(self):
        return "arn:aws:kms:%s:%s:key/%s" % (self.config.get("region", "us-east-1"),
                                             self.config.get("account_id",
                                                             common.DEFAULT_ACCOUNT_ID),
                                             KMS_KEY_UUID)

    def _encryption(self, req, conf):
        """(sse, kms key id) for a new object: the request's header, else the bucket's."""
        if any(k.lower().startswith("x-amz-server-side-encryption-customer-")
               for k in req.headers.keys()):
            raise common.ApiError(501, "NotImplemented", "fake_s3 does not model SSE-C")
        sse = req.header("x-amz-server-side-encryption") or conf.get("encryption")
        if sse and sse not in SSE_VALUES:
            raise common.ApiError(400, "InvalidArgument",
                                  "The encryption method specified is not supported")
        key_id = None
        if opaque(sse):
            key_id = (req.header("x-amz-server-side-encryption-aws-kms-key-id")
                      or conf.get("kms_key_id") or self._default_key_id())
        return sse, key_id

    def _object_headers(self, req):
        h = {"content-type": req.header("content-type") or "binary/octet-stream"}
        for name in req.headers.keys():
            lname = name.lower()
            if lname in OBJECT_HEADERS or lname.startswith("x-amz-meta-"):
                h[lname] = req.header(lname)
        return h

    def _check_key(self, key):
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise common.ApiError(400, "KeyTooLongError", "Your key is too long")

    def _check_md5(self, req):
        want = req.header("content-md5")
        if want is None:
            return
        try:
            raw = base64.b64decode(want, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 16:
            raise common.ApiError(400, "InvalidDigest",
                                  "The Content-MD5 you specified was invalid.")
        if raw != hashlib.md5(req.body).digest():
            raise common.ApiError(400, "BadDigest", "The Content-MD5 you specified did not "
                                                    "match what we received.")

    def _reserve(self, delta):
        """Account for delta more bytes in memory (under the lock)."""
        limit = int(self.config.get("max_bytes") or 0)
        if delta > 0 and limit and self.stored + delta > limit:
            raise common.ApiError(400, "EntityTooLarge",
                                  "fake_s3 keeps at most %d bytes in memory (config max_bytes);"
                                  " %d are in use" % (limit, self.stored))
        self.stored += delta

    def _get_object(self, bucket, key):
        self._bucket_conf(bucket)
        obj = self.objects.get(bucket, {}).get(key)
        if obj is None:
            raise common.ApiError(404, "NoSuchKey", "The specified key does not exist.")
        return obj

    def _upload(self, req):
        upload_id = (req.query.get("uploadId") or [""])[0]
        up = self.uploads.get(upload_id)
        if up is None or up.bucket != req.bucket or up.key != req.key:
            raise common.ApiError(404, "NoSuchUpload", "The specified upload does not exist. "
                                  "The upload ID may be invalid, or the upload may have been "
                                  "aborted or completed.")
        return up

    def _conditions(self, req, obj):
        """If-Match / If-None-Match, as S3 evaluates them for GET and HEAD."""
        match = req.header("if-match")
        if match is not None:
            tags = [bare(t) for t in match.split(",")]
            if "*" not in tags and bare(obj.etag) not in tags:
                raise common.ApiError(412, "PreconditionFailed", "At least one of the "
                                      "pre-conditions you specified did not hold")
        none_match = req.header("if-none-match")
        if none_match is not None:
            tags = [bare(t) for t in none_match.split(",")]
            if "*" in tags or bare(obj.etag) in tags:
                return False
        return True

    def _object_answer_headers(self, req, obj):
        h = [("ETag", obj.etag), ("Last-Modified", http_date(obj.last_modified)),
             ("Accept-Ranges", "bytes")]
        h += [(k, v) for k, v in obj.headers.items() if k != "content-type"]
        h += self._sse_headers(obj.sse, obj.kms_key_id)
        return self._headers(req, h)

    @staticmethod
    def _range(spec, size):
        """(first, last) of a single "bytes=" range, None for no usable range (the whole
        object), or raises InvalidRange."""
        if not spec or not spec.startswith("bytes=") or "," in spec:
            return None
        first, sep, last = spec[6:].strip().partition("-")
        if not sep:
            return None
        try:
            if first == "":
                n = int(last)
                if n <= 0:
                    raise common.ApiError(416, "InvalidRange",
                                          "The requested range is not satisfiable")
                return max(0, size - n), size - 1
            a = int(first)
            b = int(last) if last != "" else size - 1
        except ValueError:
            return None
        if b < a:
            return None
        if a >= size:
            raise common.ApiError(416, "InvalidRange", "The requested range is not satisfiable")
        return a, min(b, size - 1)

    # ---- operations
    def handle_op(self, req, op):
        failure = getattr(req, "s3_auth_failure", None)
        if failure is not None:
            if failure.message.startswith("XAmzContentSHA256Mismatch"):
                raise common.ApiError(400, "XAmzContentSHA256Mismatch", "The provided "
                                      "'x-amz-content-sha256' header does not match what was "
                                      "computed.")
            code = {"unknown_key": "InvalidAccessKeyId", "expired": "RequestTimeTooSkewed",
                    "bad_token": "InvalidToken"}.get(failure.kind, "SignatureDoesNotMatch")
            raise common.ApiError(403, code, failure.message.split("\n")[0])
        fn = getattr(self, "op_" + op, None) if op and " " not in op else None
        if fn is None:
            raise common.ApiError(501, "NotImplemented", "fake_s3 does not implement %s"
                                  % (op or req.method))
        return fn(req)

    def op_HeadBucket(self, req):
        with self.lock:
            self._bucket_conf(req.bucket)
        return common.Response(200, b"", "application/xml", self._headers(req, [
            ("x-amz-bucket-region", self.config.get("region", "us-east-1"))]))

    def _read_object(self, req):
        """HEAD and GET alike: (object, answer headers, a 304 answer or None)."""
        with self.lock:
            obj = self._get_object(req.bucket, req.key)
            fresh = self._conditions(req, obj)
        headers = self._object_answer_headers(req, obj)
        not_modified = None if fresh else common.Response(
            304, b"", obj.headers["content-type"], headers)
        return obj, headers, not_modified

    def op_HeadObject(self, req):
        obj, headers, not_modified = self._read_object(req)
        if not_modified is not None:
            return not_modified
        # HEAD: the server sends Content-Length of this body and never the body itself.
        return common.Response(200, obj.data, obj.headers["content-type"], headers)

    def op_GetObject(self, req):
        obj, headers, not_modified = self._read_object(req)
        if not_modified is not None:
            return not_modified
        size = len(obj.data)
        try:
            rng = self._range(req.header("range"), size)
        except common.ApiError as err:
            return self.error_response(err.status, err.code, err.message, req,
                                       [("Content-Range", "bytes */%d" % size)])
        if rng is None:
            return common.Response(200, obj.data, obj.headers["content-type"], headers)
        first, last = rng
        headers.append(("Content-Range", "bytes %d-%d/%d" % (first, last, size)))
        return common.Response(206, obj.data[first:last + 1], obj.headers["content-type"],
                               headers)

    def op_PutObject(self, req):
        self._check_key(req.key)
        self._check_md5(req)
        md5 = hashlib.md5(req.body).hexdigest()
        with self.lock:
            conf = self._bucket_conf(req.bucket)
            sse, key_id = self._encryption(req, conf)
            etag = '"%s"' % (random_hex() if opaque(sse) else md5)
            old = self.objects.get(req.bucket, {}).get(req.key)
            self._reserve(len(req.body) - (len(old.data) if old else 0))
            self.objects.setdefault(req.bucket, {})[req.key] = Obj(
                req.body, etag, self._object_headers(req), sse, key_id, self.now())
        return common.Response(200, b"", "application/xml", self._headers(
            req, [("ETag", etag)] + self._sse_headers(sse, key_id)))

    def op_DeleteObject(self, req):
        with self.lock:
            self._bucket_conf(req.bucket)
            old = self.objects.get(req.bucket, {}).pop(req.key, None)
            if old is not None:
                self._reserve(-len(old.data))
        return common.Response(204, b"", "application/xml", self._headers(req))

    def op_CreateMultipartUpload(self, req):
        self._check_key(req.key)
        with self.lock:
            conf = self._bucket_conf(req.bucket)
            sse, key_id = self._encryption(req, conf)
            upload_id = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
            # Initiated must order uploads within a second (ListMultipartUploads has ms).
            when = max([self.now()] + [u.initiated + 0.001 for u in self.uploads.values()
                                       if u.bucket == req.bucket and u.key == req.key])
            self.uploads[upload_id] = Upload(req.bucket, req.key, upload_id,
                                             self._object_headers(req), sse, key_id, when)
        body = _xml("InitiateMultipartUploadResult", [
            ("Bucket", req.bucket), ("Key", req.key), ("UploadId", upload_id)])
        return common.Response(200, body, "application/xml",
                               self._headers(req, self._sse_headers(sse, key_id)))

    def op_UploadPart(self, req):
        try:
            number = int((req.query.get("partNumber") or [""])[0])
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_PARTS:
            raise common.ApiError(400, "InvalidArgument", "Part number must be an integer "
                                  "between 1 and %d, inclusive" % MAX_PARTS)
        self._check_md5(req)
        md5 = hashlib.md5(req.body).hexdigest()
        with self.lock:
            self._bucket_conf(req.bucket)
            up = self._upload(req)
            etag = '"%s"' % (random_hex() if opaque(up.sse) else md5)
            old = up.parts.get(number)
            self._reserve(len(req.body) - (len(old[1]) if old else 0))
            up.parts[number] = (etag, req.body)
        return common.Response(200, b"", "application/xml", self._headers(
            req, [("ETag", etag)] + self._sse_headers(up.sse, up.kms_key_id)))

    def _parse_complete(self, body):
        malformed = common.ApiError(400, "MalformedXML", "The XML you provided was not "
                                    "well-formed or did not validate against our published "
                                    "schema")
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            raise malformed
        if root.tag.rpartition("}")[2] != "CompleteMultipartUpload":
            raise malformed
        listed = []
        for part in root:
            if part.tag.rpartition("}")[2] != "Part":
                continue
            fields = {child.tag.rpartition("}")[2]: (child.text or "") for child in part}
            try:
                listed.append((int(fields["PartNumber"]), fields.get("ETag", "")))
            except (KeyError, ValueError):
                raise malformed
        if not listed:
            raise malformed
        return listed

    def op_CompleteMultipartUpload(self, req):
        listed = self._parse_complete(req.body)
        min_part = int(self.config.get("min_part_size") or 0)
        with self.lock:
            self._bucket_conf(req.bucket)
            up = self._upload(req)
            numbers = [n for n, _ in listed]
            if any(b <= a for a, b in zip(numbers, numbers[1:])):
                raise common.ApiError(400, "InvalidPartOrder", "The list of parts was not in "
                                      "ascending order. Parts must be ordered by part number.")
            chosen = []
            for number, etag in listed:
                have = up.parts.get(number)
                if have is None or bare(have[0]) != bare(etag):
                    raise common.ApiError(400, "InvalidPart", "One or more of the specified "
                                          "parts could not be found.  The part may not have "
                                          "been uploaded, or the specified entity tag may not "
                                          "match the part's entity tag.")
                chosen.append(have)
            for _, data in chosen[:-1]:
                if len(data) < min_part:
                    raise common.ApiError(400, "EntityTooSmall", "Your proposed upload is "
                                          "smaller than the minimum allowed object size.")
            data = b"".join(d for _, d in chosen)
            if opaque(up.sse):
                etag = '"%s-%d"' % (random_hex(), len(chosen))
            else:
                etag = '"%s-%d"' % (hashlib.md5(b"".join(
                    bytes.fromhex(bare(e)) for e, _ in chosen)).hexdigest(), len(chosen))
            old = self.objects.get(up.bucket, {}).get(up.key)
            freed = sum(len(d) for _, d in up.parts.values()) + (len(old.data) if old else 0)
            self.stored += len(data) - freed
            self.objects.setdefault(up.bucket, {})[up.key] = Obj(
                data, etag, up.headers, up.sse, up.kms_key_id, self.now(), len(chosen))
            del self.uploads[up.upload_id]
        body = _xml("CompleteMultipartUploadResult", [
            ("Location", "http://%s/%s/%s" % (req.host, up.bucket, quote(up.key))),
            ("Bucket", up.bucket), ("Key", up.key), ("ETag", etag)])
        return common.Response(200, body, "application/xml", self._headers(
            req, self._sse_headers(up.sse, up.kms_key_id)))

    def op_AbortMultipartUpload(self, req):
        with self.lock:
            self._bucket_conf(req.bucket)
            up = self._upload(req)
            self._reserve(-sum(len(d) for _, d in up.parts.values()))
            del self.uploads[up.upload_id]
        return common.Response(204, b"", "application/xml", self._headers(req))

    @staticmethod
    def _int_arg(req, name, default, lo=0, hi=1000):
        text = (req.query.get(name) or [None])[0]
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise common.ApiError(400, "InvalidArgument", "%s must be an integer" % name)
        if value < lo:
            raise common.ApiError(400, "InvalidArgument", "%s must be >= %d" % (name, lo))
        return min(value, hi)

    def op_ListMultipartUploads(self, req):
        arg = lambda name: (req.query.get(name) or [""])[0]     # noqa: E731
        prefix, key_marker, id_marker = arg("prefix"), arg("key-marker"), arg("upload-id-marker")
        encode = arg("encoding-type") == "url"
        max_uploads = self._int_arg(req, "max-uploads", 1000)
        with self.lock:
            self._bucket_conf(req.bucket)
            ups = sorted((u for u in self.uploads.values()
                          if u.bucket == req.bucket and u.key.startswith(prefix)),
                         key=lambda u: (u.key, u.initiated, u.upload_id))
        if key_marker:
            if id_marker:
                marker_up = next((u for u in ups if u.key == key_marker and
                                  u.upload_id == id_marker), None)
                after = (lambda u: u.key > key_marker or (
                    u.key == key_marker and marker_up is not None and
                    (u.initiated, u.upload_id) > (marker_up.initiated, marker_up.upload_id)))
            else:
                after = (lambda u: u.key > key_marker)
            ups = [u for u in ups if after(u)]
        page, truncated = ups[:max_uploads], len(ups) > max_uploads
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        owner = [("ID", self.config.get("account_id", common.DEFAULT_ACCOUNT_ID)),
                 ("DisplayName", "poky-fake")]
        children = [("Bucket", req.bucket), ("KeyMarker", enc(key_marker)),
                    ("UploadIdMarker", id_marker),
                    ("NextKeyMarker", enc(page[-1].key) if truncated else None),
                    ("NextUploadIdMarker", page[-1].upload_id if truncated else None),
                    ("Prefix", enc(prefix)), ("MaxUploads", max_uploads),
                    ("IsTruncated", truncated)]
        if encode:
            children.append(("EncodingType", "url"))
        for u in page:
            children.append(("Upload", [
                ("Key", enc(u.key)), ("UploadId", u.upload_id), ("Initiator", owner),
                ("Owner", owner), ("StorageClass", "STANDARD"),
                ("Initiated", iso8601_ms(u.initiated))]))
        return common.Response(200, _xml("ListMultipartUploadsResult", children),
                               "application/xml", self._headers(req))

    def op_ListObjectsV2(self, req):
        arg = lambda name: (req.query.get(name) or [None])[0]   # noqa: E731
        prefix, delimiter = arg("prefix") or "", arg("delimiter") or ""
        token, start_after = arg("continuation-token"), arg("start-after")
        encode = arg("encoding-type") == "url"
        max_keys = self._int_arg(req, "max-keys", 1000)
        after = start_after or ""
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
            except ValueError:
                raise common.ApiError(400, "InvalidArgument",
                                      "The continuation token provided is incorrect")
        with self.lock:
            self._bucket_conf(req.bucket)
            items = sorted(self.objects.get(req.bucket, {}).items())
        entries, prefixes, truncated, last = [], [], False, None
        for key, obj in items:
            if not key.startswith(prefix) or key <= after:
                continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common_prefix = key[:cut + len(delimiter)]
                    if common_prefix <= after or common_prefix in prefixes:
                        continue
                    if len(entries) + len(prefixes) == max_keys:
                        truncated = True
                        break
                    prefixes.append(common_prefix)
                    last = common_prefix + "\U0010ffff"     # past all its keys
                    continue
            if len(entries) + len(prefixes) == max_keys:
                truncated = True
                break
            entries.append((key, obj))
            last = key
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        children = [("Name", req.bucket), ("Prefix", enc(prefix)),
                    ("Delimiter", enc(delimiter) if delimiter else None),
                    ("MaxKeys", max_keys), ("KeyCount", len(entries) + len(prefixes)),
                    ("IsTruncated", truncated), ("ContinuationToken", token),
                    ("NextContinuationToken", base64.urlsafe_b64encode(
                        last.encode("utf-8", "surrogatepass")).decode() if truncated else None),
                    ("StartAfter", enc(start_after) if start_after else None)]
        if encode:
            children.append(("EncodingType", "url"))
        for key, obj in entries:
            children.append(("Contents", [
                ("Key", enc(key)), ("LastModified", iso8601_ms(obj.last_modified)),
                ("ETag", obj.etag), ("Size", len(obj.data)), ("StorageClass", "STANDARD")]))
        for p in prefixes:
            children.append(("CommonPrefixes", [("Prefix", enc(p))]))
        return common.Response(200, _xml("ListBucketResult", children), "application/xml",
                               self._headers(req))

    # ---- control API
    def control_extra(self, method, parts, body, req):
        head = parts[0] if parts else ""
        if head == "objects" and method == "GET":
            with self.lock:
                return common.json_response({b: {k: o.describe() for k, o in sorted(objs.items())}
                                             for b, objs in sorted(self.objects.items())})
        if head == "uploads" and method == "GET":
            with self.lock:
                ups = sorted(self.uploads.values(), key=lambda u: (u.bucket, u.key, u.initiated))
                return common.json_response([u.describe() for u in ups])
        return None


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the S3App."""
    return common.start_server(S3App(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(S3App, "Fake S3 with in-memory objects, multipart uploads and "
                                "SSE-KMS's opaque ETags (SigV4 judged by botocore)"))
