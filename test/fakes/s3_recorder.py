#!/usr/bin/python3
"""A recording pass-through in front of a real S3 (radosgw): every request poky-worker makes
is forwarded unchanged - same method, path, query, headers (Host included, so the SigV4
signature still verifies upstream) and body - and logged as
{op, bucket, key, version_id, copy_source, status}.  test_deploy.py judges the task role's
policy against these calls, so the list of S3 calls comes from the worker itself, not from
what someone believes it does.

    rec = Recorder("http://127.0.0.1:RGWPORT"); rec.start(); ... rec.endpoint; rec.calls
"""
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "expect", "transfer-encoding", "te", "upgrade",
              "proxy-connection"}


def classify(method, bucket, key, query, headers):
    """The S3 operation of a path-style request (the subset S3 clients use)."""
    copy = headers.get("x-amz-copy-source")
    if key is None:
        if method == "HEAD":
            return "HeadBucket"
        if method == "GET" and "uploads" in query:
            return "ListMultipartUploads"
        if method == "GET" and "versions" in query:
            return "ListObjectVersions"
        if method == "GET":
            return "ListObjects"
        return method + "Bucket"
    if method == "HEAD":
        return "HeadObject"
    if method == "GET":
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "PUT" and "uploadId" in query:
        return "UploadPartCopy" if copy else "UploadPart"
    if method == "PUT":
        return "CopyObject" if copy else "PutObject"
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload"
    if method == "DELETE":
        return "DeleteObject"
    return method + "Object"


class Recorder:
    def __init__(self, upstream):
        u = urlsplit(upstream)
        self.upstream = (u.hostname, u.port or 80)
        self.calls = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def take(self):
        with self.lock:
            out, self.calls = self.calls, []
        return out

    def _handler(rec):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                conn = http.client.HTTPConnection(*rec.upstream, timeout=120)
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        conn.putheader(name, value)
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response_only(resp.status, resp.reason)
                for name, value in resp.getheaders():
                    # A HEAD answer's Content-Length is the object's size: keep it.
                    if name.lower() in HOP_BY_HOP or (name.lower() == "content-length" and
                                                      self.command != "HEAD"):
                        continue
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()
                split = urlsplit(self.path)
                bucket, _, key = unquote(split.path)[1:].partition("/")
                query = parse_qs(split.query, keep_blank_values=True)
                headers = {k.lower(): v for k, v in self.headers.items()}
                copy = headers.get("x-amz-copy-source")
                with rec.lock:
                    rec.calls.append({
                        "op": classify(self.command, bucket, key or None, query, headers),
                        "bucket": bucket, "key": key or None,
                        "version_id": (query.get("versionId") or [None])[0],
                        "copy_source": unquote(copy) if copy else None,
                        "status": resp.status})

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward
        return Handler
