"""Shared plumbing for Poky's local AWS fakes (ECS, STS, IMDSv2, container credentials).

Every fake is both a script and a module:

    /usr/bin/python3 test/fakes/fake_ecs.py --port 0 --port-file /tmp/ecs.port \
        [--host 127.0.0.1] [--creds-file /tmp/creds.json] [--config '{"region": "eu-west-1"}'] [-v]

prints ``listening on 127.0.0.1:PORT`` (flushed) once it accepts connections, writes PORT to
--port-file atomically (temp file + rename), and stops cleanly on SIGTERM/SIGINT.
``--config`` takes JSON or ``@path/to/file.json``; it becomes the fake's *initial* config
(what ``POST /_fake/reset`` restores).  In-process use (pytest)::

    server, thread, port = fake_ecs.start(port=0, config={...}, creds_file=None)
    server.app            # the FakeApp: config, calls, tasks ... (use server.app.lock)
    common.stop(server)

HTTP: ThreadingHTTPServer, HTTP/1.1 keep-alive, Content-Length on every response, every
response carries ``x-amzn-RequestId`` (UUID) and ``Date`` (RFC 7231, from the fake's clock =
real time + config ``clock_skew_seconds``).

Control API (unsigned, JSON in and out, never recorded, never faulted):
    GET  /_fake/health              {"ok": true, "name": ...}
    GET  /_fake/calls[?op=RunTask]  every service request: {op, method, path, query, raw_query,
                                    headers (lower-case names; authorization and
                                    x-amz-security-token shown as "<redacted>"), body (parsed
                                    JSON, or text), params (query-protocol fakes), access_key,
                                    signed_headers, signature_ok (true/false/null when the
                                    operation is unsigned), auth_error, status, fault, time,
                                    request_id, peer ("ip:port": same peer = reused connection)}
    GET  /_fake/counts              {op: number of requests}
    POST /_fake/reset               clear calls, faults and state and restore the initial config
                                    (body {"keep_config": true} keeps the current config)
    POST /_fake/faults              {"op": "RunTask" | "*", "faults": [fault, ...]} appends to the
                                    op's queue; each matching request consumes one fault (the op's
                                    own queue first, then "*").  GET /_fake/faults shows queues.
    GET  /_fake/config              current config;  POST /_fake/config  shallow-merges the body
                                    into it (a dict value such as "credentials" is replaced whole)
    GET  /_fake/throttles           {"throttled": {op: requests refused by a bucket},
                                     "tokens": {op: tokens left now}}

Steady service behaviour, as config (every fake; op names as in the call log; "*" = any op):
    latency     {"RunTask": 0.3, "HeadObject": 0.02, "*": 0}   seconds a service request takes
                before it is processed and answered.  Slept without holding any lock, so
                concurrent requests overlap as on the real service (64 requests of 0.3 s each
                take about 0.3 s together, not 19 s).  Control requests are never delayed.
    throttle    {"RunTask": {"rate": 20, "burst": 100}}         a token bucket per op (full
                when configured, refilled at rate/s up to burst); a request that finds it empty
                is answered at once, without its latency and before any queued fault, with the
                service's throttling error (ECS and most JSON services: HTTP 400
                {"__type": "ThrottlingException", "message": "Rate exceeded"}; S3: 503 SlowDown;
                STS: 400 Throttling), recorded with "throttled": true and counted.  Changing
                "throttle" refills the buckets; POST /_fake/reset refills them and clears the
                counts.

A fault is a dict combining any of:
    {"status": 500}                         error answer in the service's error shape
    {"status": 400, "type": "ThrottlingException", "message": "Rate exceeded"}
    {"delay": 2.5}                          sleep, then go on (alone: answer normally)
    {"reset": true}                         close the socket without answering (shutdown+close);
                                            {"reset": "rst"} sends a TCP RST instead (SO_LINGER 0)
    {"body": "raw text", "status": 200, "content_type": "..."}   verbatim body
    {"partial": true}                       send the headers and half the body, then close
    {"headers": {"x-amz-retry-after": "100"}}  extra response headers (combine with the others)
    {"after_processing": true, ...}         first process the request for real (tasks ARE
                                            created), then replace the answer by the fault —
                                            "the launch happened but the response was lost"
    {"delay_after": 1.5}                    process the request, then wait that long before
                                            answering ("done at once, the answer is slow")
  fake_ecs also accepts {"failures": [{"reason": "..."}]}: RunTask answers 200 with those failures.

Signature checking (signed operations): the fake parses Authorization, looks the access key up,
rebuilds a ``botocore.awsrequest.AWSRequest`` from exactly what was received (method,
http://<Host header><raw path>?<raw query>, the headers named in SignedHeaders, the body) with
context['timestamp'] = X-Amz-Date, and lets ``botocore.auth.SigV4Auth`` compute the canonical
request, string to sign and signature.  botocore is the judge, not this file.  On a mismatch the
error message carries botocore's canonical request and string to sign, as AWS does.

Credentials a fake accepts, looked up in this order:
  1. config ``credentials``  {"AKID": "secret"}  (default {"AKIDPOKYTEST": "pokySecretKey"}) with
     optional config ``session_tokens`` {"AKID": "token"} (then X-Amz-Security-Token is required,
     must match and must be signed);
  2. the in-process shared registry (``register_credentials``): what fake_sts issues and what
     fake_imds / fake_container_creds hand out, with their session token and expiration;
  3. the JSON file given with ``--creds-file FILE`` (``creds_file=`` in start()), same content as
     the registry: {"AKID": {"secret": "...", "token": "..."|null, "expiration": "ISO-8601Z"|null}}.
     fake_sts / fake_imds / fake_container_creds append what they hand out to it (under an fcntl
     lock, written atomically); every fake re-reads it when it changes.  Give all fakes the same
     --creds-file when they run as separate processes.
  Temporary credentials past their expiration (by the checking fake's clock) are refused with
  ExpiredTokenException.
"""

import argparse
import base64
import copy
import datetime
import email.utils
import fcntl
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_CREDENTIALS = {"AKIDPOKYTEST": "pokySecretKey"}
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
ISO8601 = "%Y-%m-%dT%H:%M:%SZ"
MAX_SKEW_SECONDS = 300
REDACTED = "<redacted>"
FAULT_KEYS = {"status", "type", "message", "delay", "reset", "body", "content_type",
              "headers", "partial", "after_processing", "failures", "delay_after"}


# --------------------------------------------------------------------------- time helpers

def iso8601(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(ISO8601)


def amz_date(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(SIGV4_TIMESTAMP)


def parse_amz_date(text):
    dt = datetime.datetime.strptime(text, SIGV4_TIMESTAMP)
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def parse_iso8601(text):
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


# --------------------------------------------------------------------------- errors / responses

class ApiError(Exception):
    """Raised by a fake's operation handler; rendered in the service's error shape."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])
        self.reset = None        # None, "close" or "rst": drop the connection without answering
        self.partial = False     # send headers + half the body, then close
        self.close = False       # answer, then close the connection


def json_response(obj, status=200, content_type="application/json", headers=None):
    return Response(status, json.dumps(obj, indent=None, sort_keys=False, default=str),
                    content_type, headers)


def text_response(text, status=200, content_type="text/plain", headers=None):
    return Response(status, text, content_type, headers)


# --------------------------------------------------------------------------- requests

class Request:
    def __init__(self, method, target, headers, body, client_address, server_address):
        self.method = method
        self.target = target
        self.headers = headers          # email.message.Message (case-insensitive, repeats kept)
        self.body = body
        self.client_address = client_address
        self.request_id = str(uuid.uuid4())
        parts = urlsplit(target) if target.startswith(("http://", "https://")) else None
        if parts is not None:
            raw_path, raw_query = parts.path or "/", parts.query
        else:
            raw_path, _, raw_query = target.partition("?")
        self.raw_path = raw_path or "/"
        self.raw_query = raw_query
        self.path = self.raw_path
        self.query = parse_qs(raw_query, keep_blank_values=True)
        host = headers.get("Host")
        if not host:
            host = "%s:%d" % (server_address[0], server_address[1])
        self.host = host

    def header(self, name, default=None):
        values = self.headers.get_all(name)
        if not values:
            return default
        return ",".join(v.strip() for v in values)

    def headers_dict(self):
        out = {}
        for name in self.headers.keys():
            lname = name.lower()
            if lname in out:
                continue
            value = self.header(lname)
            if lname in ("authorization", "x-amz-security-token"):
                value = REDACTED
            out[lname] = value
        return out

    def body_text(self):
        return self.body.decode("utf-8", errors="replace")

    def body_for_record(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body_text()


# --------------------------------------------------------------------------- shared credentials

_REGISTRY_LOCK = threading.Lock()
_REGISTRY = {}
_FILE_CACHE = {}


def register_credentials(access_key, secret, token=None, expiration=None, source="",
                         creds_file=None):
    """Make (access_key, secret, token) acceptable to every fake of this process, and to the
    fakes of other processes that read the same creds_file.  expiration: epoch seconds or None."""
    entry = {"secret": secret, "token": token,
             "expiration": iso8601(expiration) if expiration is not None else None,
             "source": source}
    with _REGISTRY_LOCK:
        _REGISTRY[access_key] = entry
    if creds_file:
        _update_creds_file(creds_file, {access_key: entry})


def _update_creds_file(path, entries):
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    with open(path + ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = _read_creds_file_raw(path)
            data.update(entries)
            fd, tmp = tempfile.mkstemp(prefix=".creds-", dir=directory)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
            os.replace(tmp, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_creds_file_raw(path):
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def _creds_from_file(path):
    try:
        st = os.stat(path)
    except OSError:
        return {}
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _FILE_CACHE.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        data = _read_creds_file_raw(path)
    except (OSError, ValueError):
        return cached[1] if cached else {}
    norm = {}
    for ak, val in data.items():
        if isinstance(val, str):
            norm[ak] = {"secret": val, "token": None, "expiration": None}
        elif isinstance(val, dict) and "secret" in val:
            norm[ak] = val
    _FILE_CACHE[path] = (stamp, norm)
    return norm


def shared_credential(access_key, creds_file=None):
    with _REGISTRY_LOCK:
        entry = _REGISTRY.get(access_key)
    if entry is None and creds_file:
        entry = _creds_from_file(creds_file).get(access_key)
    return entry


# --------------------------------------------------------------------------- SigV4 check

class AuthFailure(Exception):
    """kind: missing | incomplete | unknown_key | bad_token | expired_token | expired | scope |
    mismatch"""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def parse_authorization(value):
    if not value:
        raise AuthFailure("missing", "Missing Authentication Token")
    algo, _, rest = value.strip().partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise AuthFailure("incomplete",
                          "Unsupported Authorization algorithm %r (expected AWS4-HMAC-SHA256)" % algo)
    fields = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep:
            raise AuthFailure("incomplete",
                              "Authorization header requires key=value pairs; got %r" % part)
        fields[key.strip()] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise AuthFailure("incomplete", " ".join(
            "Authorization header requires '%s' parameter." % k for k in missing)
            + " Authorization=" + rest.split("Signature=")[0])
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise AuthFailure("incomplete",
                          "Credential should be of the form AKID/yyyymmdd/region/service/aws4_request;"
                          " got %r" % fields["Credential"])
    return {"access_key": scope[0], "date": scope[1], "region": scope[2], "service": scope[3],
            "signed_headers": fields["SignedHeaders"], "signature": fields["Signature"]}


def verify_sigv4(app, req, service):
    """Check req's SigV4 Authorization with botocore as the judge.  Returns the parsed
    Authorization dict on success, raises AuthFailure otherwise."""
    auth = parse_authorization(req.header("authorization"))
    req.auth = auth
    amzdate = req.header("x-amz-date")
    if amzdate is None:
        date_hdr = req.header("date")
        if date_hdr is None:
            raise AuthFailure("incomplete", "Authorization header requires existence of either a "
                                            "'X-Amz-Date' or a 'Date' header.")
        try:
            amzdate = amz_date(email.utils.parsedate_to_datetime(date_hdr).timestamp())
        except (TypeError, ValueError):
            raise AuthFailure("incomplete", "Date header %r is not an RFC 7231 date" % date_hdr)
    try:
        req_time = parse_amz_date(amzdate)
    except ValueError:
        raise AuthFailure("incomplete", "X-Amz-Date %r is not of the form YYYYMMDDTHHMMSSZ" % amzdate)

    ak = auth["access_key"]
    cfg = app.config
    secret = (cfg.get("credentials") or {}).get(ak)
    expected_token = None
    expiration = None
    if secret is not None:
        expected_token = (cfg.get("session_tokens") or {}).get(ak)
    else:
        entry = shared_credential(ak, app.creds_file)
        if entry is None:
            raise AuthFailure("unknown_key", "The security token included in the request is invalid.")
        secret = entry["secret"]
        expected_token = entry.get("token")
        expiration = entry.get("expiration")

    sent_token = req.header("x-amz-security-token")
    if expected_token is None and sent_token is not None:
        raise AuthFailure("bad_token", "The security token included in the request is invalid.")
    if expected_token is not None and sent_token != expected_token:
        raise AuthFailure("bad_token", "The security token included in the request is invalid."
                          + ("" if sent_token else " (X-Amz-Security-Token is missing)"))
    now = app.now()
    if expiration is not None and parse_iso8601(expiration) <= now:
        raise AuthFailure("expired_token", "The security token included in the request is expired")

    if auth["date"] != amzdate[:8]:
        raise AuthFailure("scope", "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                                   "version of date from HTTP: '%s' != '%s', from '%s'."
                          % (auth["date"], amzdate[:8], amzdate))
    if req_time < now - MAX_SKEW_SECONDS:
        raise AuthFailure("expired", "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                          % (amzdate, amz_date(now - MAX_SKEW_SECONDS), amz_date(now)))
    if req_time > now + MAX_SKEW_SECONDS:
        raise AuthFailure("expired", "Signature not yet current: %s is still later than %s (%s + 5 min.)"
                          % (amzdate, amz_date(now + MAX_SKEW_SECONDS), amz_date(now)))
    region = cfg.get("region", "us-east-1")
    if auth["region"] != region:
        raise AuthFailure("scope", "Credential should be scoped to a valid region, not '%s'. "
                                   "Expected '%s'." % (auth["region"], region))
    if auth["service"] != service:
        raise AuthFailure("scope", "Credential should be scoped to correct service: '%s'. "
                                   "Got '%s'." % (service, auth["service"]))

    signed = [h.strip() for h in auth["signed_headers"].split(";") if h.strip()]
    if "host" not in [h.lower() for h in signed]:
        raise AuthFailure("mismatch", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if sent_token is not None and "x-amz-security-token" not in [h.lower() for h in signed]:
        raise AuthFailure("mismatch", "X-Amz-Security-Token must be one of the SignedHeaders "
                                      "(this fake, like the brief, requires the token to be signed).")
    for name in signed:
        if req.headers.get_all(name) is None:
            raise AuthFailure("mismatch", "Header '%s' is listed in SignedHeaders but is not in "
                                          "the request." % name)
    content_sha = req.header("x-amz-content-sha256")
    if content_sha is not None and re.fullmatch(r"[0-9a-fA-F]{64}", content_sha) \
            and content_sha.lower() != hashlib.sha256(req.body).hexdigest():
        raise AuthFailure("mismatch", "The provided 'x-amz-content-sha256' header does not match "
                                      "what was computed.")

    url = "http://" + req.host + req.raw_path + ("?" + req.raw_query if req.raw_query else "")
    areq = AWSRequest(method=req.method, url=url, data=req.body)
    for name in signed:
        for value in req.headers.get_all(name):
            areq.headers[name] = value
    areq.context["timestamp"] = amzdate
    signer = SigV4Auth(Credentials(ak, secret, expected_token), auth["service"], auth["region"])
    try:
        canonical = signer.canonical_request(areq)
    except Exception as exc:  # a Host header botocore cannot parse, etc.
        raise AuthFailure("mismatch", "botocore could not rebuild the request: %s" % exc)
    string_to_sign = signer.string_to_sign(areq, canonical)
    expected = signer.signature(string_to_sign, areq)
    expected_signed = signer.signed_headers(signer.headers_to_sign(areq))
    if not hmac.compare_digest(expected, auth["signature"]) or expected_signed != auth["signed_headers"]:
        msg = ("The request signature we calculated does not match the signature you provided. "
               "Check your AWS Secret Access Key and signing method. Consult the service "
               "documentation for details.\n\nThe Canonical String for this request should have "
               "been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n" % (canonical, string_to_sign))
        dropped = [h for h in signed if h.lower() in SIGNED_HEADERS_BLACKLIST]
        if dropped:
            msg += ("\n(botocore never signs %s; do not list them in SignedHeaders)\n"
                    % ", ".join(dropped))
        if expected_signed != auth["signed_headers"]:
            msg += ("\n(SignedHeaders should be %r, got %r)\n"
                    % (expected_signed, auth["signed_headers"]))
        raise AuthFailure("mismatch", msg)
    return auth


# --------------------------------------------------------------------------- model validation

def model_validate(params, shape):
    """botocore's ParamValidator plus the checks it leaves out (enum values, max lengths,
    max values, patterns, booleans passed as numbers).  Returns a report string or ''."""
    from botocore.validate import ParamValidator
    report = ParamValidator().validate(params, shape)
    lines = []
    if report.has_errors():
        lines.append(report.generate_report())
    extra = []
    _extra_validate(params, shape, "", extra)
    lines.extend(extra)
    return "\n".join(l for l in lines if l)


def _extra_validate(value, shape, path, errors):
    if value is None or shape is None:
        return
    t = shape.type_name
    meta = shape.metadata
    label = path or "input"
    if t == "structure":
        if isinstance(value, dict):
            for key, val in value.items():
                if key in shape.members:
                    _extra_validate(val, shape.members[key], (path + "." + key) if path else key,
                                    errors)
    elif t == "list":
        if isinstance(value, list):
            if meta.get("max") is not None and len(value) > meta["max"]:
                errors.append("Invalid length for parameter %s, value: %d, valid max length: %s"
                              % (label, len(value), meta["max"]))
            for i, item in enumerate(value):
                _extra_validate(item, shape.member, "%s[%d]" % (label, i), errors)
    elif t == "map":
        if isinstance(value, dict):
            for key, val in value.items():
                _extra_validate(key, shape.key, "%s (key)" % label, errors)
                _extra_validate(val, shape.value, "%s.%s" % (label, key), errors)
    elif t == "string":
        if isinstance(value, str):
            if shape.enum and value not in shape.enum:
                errors.append("Invalid value for parameter %s, value: %s, valid values: %s"
                              % (label, value, ", ".join(shape.enum)))
            if meta.get("max") is not None and len(value) > meta["max"]:
                errors.append("Invalid length for parameter %s, value: %d, valid max length: %s"
                              % (label, len(value), meta["max"]))
            pattern = meta.get("pattern")
            if pattern:
                try:
                    ok = re.fullmatch(pattern, value, re.S) is not None
                except re.error:
                    ok = True      # Java-only regex syntax (\p{..}): not checkable here
                if not ok:
                    errors.append("Invalid value for parameter %s, value: %s, must match "
                                  "pattern: %s" % (label, value, pattern))
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, bool):
            errors.append("Invalid type for parameter %s, value: %s, type: <class 'bool'>, "
                          "valid types: <class 'int'>" % (label, value))
        elif isinstance(value, (int, float)):
            if meta.get("max") is not None and value > meta["max"]:
                errors.append("Invalid value for parameter %s, value: %s, valid max value: %s"
                              % (label, value, meta["max"]))


def load_service_model(name, patch=None):
    from botocore.loaders import Loader
    from botocore.model import ServiceModel
    raw = copy.deepcopy(Loader().load_service_model(name, "service-2"))
    if patch:
        patch(raw)
    return ServiceModel(raw, name)


# --------------------------------------------------------------------------- latency, throttling

MAX_LATENCY_SECONDS = 60.0


class TokenBucket:
    """burst tokens to start with, refilled at rate per second up to burst; one per request.
    Not locked: the owner holds its bucket lock (never while sleeping)."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def _refill(self):
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self):
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def level(self):
        self._refill()
        return self.tokens


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_steady_config(body):
    """Refuse a "latency" or "throttle" config the fakes could not apply (400 BadConfig)."""
    lat = body.get("latency", {})
    if lat is not None:
        if not isinstance(lat, dict):
            raise ApiError(400, "BadConfig", 'latency must be {"Op": seconds, ...}')
        for op, secs in lat.items():
            if not _number(secs) or not 0 <= secs <= MAX_LATENCY_SECONDS:
                raise ApiError(400, "BadConfig", "latency of %s must be 0..%g seconds (got %r)"
                               % (op, MAX_LATENCY_SECONDS, secs))
    thr = body.get("throttle", {})
    if thr is not None:
        if not isinstance(thr, dict):
            raise ApiError(400, "BadConfig",
                           'throttle must be {"Op": {"rate": N, "burst": N}, ...}')
        for op, spec in thr.items():
            if not isinstance(spec, dict) or set(spec) != {"rate", "burst"} or \
                    not _number(spec["rate"]) or not _number(spec["burst"]) or \
                    spec["rate"] <= 0 or spec["burst"] < 1:
                raise ApiError(400, "BadConfig", "throttle of %s must be {\"rate\": > 0, "
                               "\"burst\": >= 1} (got %r)" % (op, spec))


# --------------------------------------------------------------------------- the app base

class FakeApp:
    """Base of every fake: config, call log, faults, control API, dispatch."""

    name = "fake"
    signing_service = None
    DEFAULT_CONFIG = {}
    # (status, code, message) of the answer to a throttled request (config "throttle").
    THROTTLE = (400, "ThrottlingException", "Rate exceeded")

    def __init__(self, config=None, creds_file=None):
        self.lock = threading.RLock()
        self.creds_file = os.path.abspath(creds_file) if creds_file else None
        base = {"region": "us-east-1", "clock_skew_seconds": 0,
                "credentials": dict(DEFAULT_CREDENTIALS), "session_tokens": {},
                "account_id": DEFAULT_ACCOUNT_ID, "latency": {}, "throttle": {}}
        base.update(copy.deepcopy(self.DEFAULT_CONFIG))
        base.update(copy.deepcopy(config or {}))
        validate_steady_config(base)
        self.initial_config = base
        self.config = copy.deepcopy(base)
        self.calls = []
        self.faults = {}
        # Buckets have their own lock: a request takes a token without waiting for the app
        # lock (which a slow control request may hold) and nobody sleeps holding either.
        self.bucket_lock = threading.Lock()
        self.buckets = {}
        self.bucket_spec = None
        self.throttled = {}
        self.reset_state()
        self.config_changed()
        self.sync_buckets()

    # ---- hooks for subclasses
    def reset_state(self):
        pass

    def config_changed(self):
        pass

    def classify(self, req):
        """Return (op, needs_signature).  May store parsed data on req."""
        raise NotImplementedError

    def handle_op(self, req, op):
        raise NotImplementedError

    def error_response(self, status, code, message, req):
        return json_response({"__type": code, "message": message}, status)

    def auth_error(self, failure, req):
        return self.error_response(400, "InvalidSignatureException", failure.message, req)

    def fault_error_type(self, status):
        return "ServerException" if status >= 500 else "ClientException"

    def control_extra(self, method, parts, body, req):
        return None

    def record_extra(self, req, call):
        pass

    # ---- helpers
    def now(self):
        return time.time() + float(self.config.get("clock_skew_seconds") or 0)

    def http_date(self):
        return email.utils.formatdate(self.now(), usegmt=True)

    # ---- steady latency and throttling (config "latency", "throttle")
    def sync_buckets(self, refill=False):
        """(Re)build the token buckets when the "throttle" config changed, or refill=True."""
        spec = copy.deepcopy(self.config.get("throttle") or {})
        with self.bucket_lock:
            if refill or spec != self.bucket_spec:
                self.buckets = {op: TokenBucket(v["rate"], v["burst"]) for op, v in spec.items()}
                self.bucket_spec = spec
            if refill:
                self.throttled = {}

    def take_token(self, op):
        """True if op may go on; False (and counted) if its bucket is empty."""
        with self.bucket_lock:
            bucket = self.buckets.get(op) or self.buckets.get("*")
            if bucket is None or bucket.take():
                return True
            key = str(op)
            self.throttled[key] = self.throttled.get(key, 0) + 1
            return False

    def op_latency(self, op):
        lat = self.config.get("latency") or {}
        value = lat.get(op, lat.get("*", 0)) if op is not None else lat.get("*", 0)
        return float(value or 0)

    def throttle_response(self, req, op):
        status, code, message = self.THROTTLE
        return self.error_response(status, code, message, req)

    def take_fault(self, op):
        with self.lock:
            for key in (op, "*"):
                queue = self.faults.get(key)
                if key is not None and queue:
                    return queue.pop(0)
        return None

    # ---- dispatch
    def dispatch(self, req):
        if req.path == "/_fake" or req.path.startswith("/_fake/"):
            try:
                return self.handle_control(req)
            except ApiError as err:
                return json_response({"error": err.code, "message": err.message}, err.status)
        req.auth = None
        try:
            op, needs_signature = self.classify(req)
        except ApiError as err:
            op, needs_signature = None, False
            req.classify_error = err
        else:
            req.classify_error = None
        call = {"op": op, "method": req.method, "path": req.raw_path,
                "query": req.query, "raw_query": req.raw_query,
                "headers": req.headers_dict(), "body": req.body_for_record(),
                "access_key": None, "signed_headers": None,
                "signature_ok": None, "auth_error": None, "status": None, "fault": None,
                "time": time.time(), "request_id": req.request_id,
                "peer": "%s:%s" % tuple(req.client_address[:2])}
        auth_failure = None
        if needs_signature:
            try:
                verify_sigv4(self, req, self.signing_service)
                call["signature_ok"] = True
            except AuthFailure as failure:
                auth_failure = failure
                call["signature_ok"] = False
                call["auth_error"] = failure.kind + ": " + failure.message.split("\n")[0]
            if req.auth:
                call["access_key"] = req.auth["access_key"]
                call["signed_headers"] = req.auth["signed_headers"].split(";")
        self.record_extra(req, call)
        with self.lock:
            self.calls.append(call)
        if not self.take_token(op):
            call["throttled"] = True
            resp = self.throttle_response(req, op)
            call["status"] = resp.status
            return resp
        latency = self.op_latency(op)
        if latency > 0:
            time.sleep(latency)         # no lock held: concurrent requests overlap
        fault = self.take_fault(op)
        call["fault"] = fault
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        replaces = fault and any(k in fault for k in ("status", "body", "reset", "partial", "failures"))
        if replaces and not fault.get("after_processing"):
            resp = self.fault_response(fault, req, op)
        else:
            resp = self.normal_response(req, op, auth_failure)
            if replaces:
                resp = self.fault_response(fault, req, op)
        if fault and fault.get("headers"):
            resp.headers.extend((str(k), str(v)) for k, v in fault["headers"].items())
        if fault and fault.get("delay_after"):
            time.sleep(float(fault["delay_after"]))
        call["status"] = resp.status if resp.reset is None else "reset"
        return resp

    def normal_response(self, req, op, auth_failure):
        if auth_failure is not None:
            return self.auth_error(auth_failure, req)
        try:
            if req.classify_error is not None:
                raise req.classify_error
            return self.handle_op(req, op)
        except ApiError as err:
            return self.error_response(err.status, err.code, err.message, req)
        except Exception:
            traceback.print_exc()
            return self.error_response(500, self.fault_error_type(500),
                                       "internal error in the fake: see its stderr", req)

    def fault_response(self, fault, req, op):
        if fault.get("reset"):
            resp = Response(0)
            resp.reset = "rst" if fault["reset"] == "rst" else "close"
            return resp
        if "failures" in fault and "status" not in fault and "body" not in fault:
            resp = self.fault_failures(fault["failures"], req, op)
        elif "body" in fault:
            resp = Response(int(fault.get("status", 200)), str(fault["body"]),
                            fault.get("content_type", "application/x-amz-json-1.1"))
        elif "status" in fault:
            status = int(fault["status"])
            code = fault.get("type") or self.fault_error_type(status)
            message = fault.get("message") or ("Injected fault: HTTP %d" % status)
            resp = self.error_response(status, code, message, req)
        else:
            resp = self.normal_response(req, op, None)
        if fault.get("partial"):
            resp.partial = True
        return resp

    def fault_failures(self, failures, req, op):
        return json_response({"tasks": [], "failures": failures}, 200)

    # ---- control API
    def handle_control(self, req):
        parts = [p for p in req.path.split("/") if p][1:]
        method = req.method
        body = None
        if req.body:
            try:
                body = json.loads(req.body)
            except ValueError:
                raise ApiError(400, "BadJSON", "control API bodies must be JSON")
        head = parts[0] if parts else ""
        if head == "health" and method == "GET":
            return json_response({"ok": True, "name": self.name})
        if head == "calls" and method == "GET":
            with self.lock:
                calls = list(self.calls)
            want = req.query.get("op")
            if want:
                calls = [c for c in calls if c["op"] in want]
            return json_response(calls)
        if head == "counts" and method == "GET":
            counts = {}
            with self.lock:
                for c in self.calls:
                    counts[str(c["op"])] = counts.get(str(c["op"]), 0) + 1
            return json_response(counts)
        if head == "reset" and method == "POST":
            with self.lock:
                self.calls = []
                self.faults = {}
                if not (isinstance(body, dict) and body.get("keep_config")):
                    self.config = copy.deepcopy(self.initial_config)
                self.reset_state()
                self.config_changed()
            self.sync_buckets(refill=True)
            return json_response({"ok": True})
        if head == "throttles" and method == "GET":
            with self.bucket_lock:
                return json_response({"throttled": dict(self.throttled),
                                      "tokens": {op: b.level() for op, b in
                                                 self.buckets.items()}})
        if head == "faults":
            if method == "GET":
                with self.lock:
                    return json_response(self.faults)
            if method == "POST":
                if not isinstance(body, dict) or not isinstance(body.get("faults"), list):
                    raise ApiError(400, "BadFaults", 'expected {"op": "...", "faults": [...]}')
                for f in body["faults"]:
                    if not isinstance(f, dict) or set(f) - FAULT_KEYS:
                        raise ApiError(400, "BadFaults", "unknown fault keys in %r (known: %s)"
                                       % (f, ", ".join(sorted(FAULT_KEYS))))
                op = body.get("op") or "*"
                with self.lock:
                    self.faults.setdefault(op, []).extend(body["faults"])
                    queued = {k: len(v) for k, v in self.faults.items()}
                return json_response({"queued": queued})
            if method == "DELETE":
                with self.lock:
                    self.faults = {}
                return json_response({"ok": True})
        if head == "config":
            if method == "GET":
                with self.lock:
                    return json_response(self.config)
            if method == "POST":
                if not isinstance(body, dict):
                    raise ApiError(400, "BadConfig", "config body must be a JSON object")
                validate_steady_config(body)
                with self.lock:
                    self.config.update(body)
                    self.config_changed()
                    out = json_response(self.config)
                self.sync_buckets()
                return out
        resp = self.control_extra(method, parts, body, req)
        if resp is not None:
            return resp
        raise ApiError(404, "NoSuchControl", "unknown control endpoint %s %s" % (method, req.path))


# --------------------------------------------------------------------------- HTTP server

class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PokyFake/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.server.app.name, fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("connection closed inside a chunked body")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:     # trailers
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        n = int(length)
        if n < 0:
            raise ValueError("negative Content-Length")
        data = self.rfile.read(n)
        if len(data) != n:
            raise ValueError("body shorter than Content-Length")
        return data

    def _handle(self):
        app = self.server.app
        try:
            body = self._read_body()
        except (ValueError, OSError) as exc:
            self.close_connection = True
            resp = text_response("bad request body: %s\n" % exc, 400)
            resp.close = True
            self._send(resp, str(uuid.uuid4()))
            return
        req = Request(self.command, self.path, self.headers, body, self.client_address,
                      self.server.server_address)
        try:
            resp = app.dispatch(req)
        except Exception:
            traceback.print_exc()
            resp = text_response("internal error in the fake\n", 500)
        self._send(resp, req.request_id)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    def _abort(self, how):
        self.close_connection = True
        try:
            if how == "rst":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _send(self, resp, request_id):
        if resp.reset:
            self._abort(resp.reset)
            return
        data = resp.body
        self.send_response_only(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Date", self.server.app.http_date())
        for key, value in resp.headers:
            self.send_header(key, value)
        if resp.close or resp.partial:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if resp.partial:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self._abort("close")
            else:
                self.wfile.write(data)
        except OSError:
            self.close_connection = True
        if getattr(self.server, "verbose", False):
            self.log_request(resp.status, len(data))


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # listen() backlog: a bench opens 64+ connections at once; each gets its own thread.
    request_queue_size = 1024

    def __init__(self, address, app, verbose=False):
        self.app = app
        self.verbose = verbose
        super().__init__(address, FakeHandler)

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)

    @property
    def port(self):
        return self.server_address[1]

    @property
    def url(self):
        return "http://%s:%d" % (self.server_address[0], self.server_address[1])


def start_server(app, host="127.0.0.1", port=0, verbose=False):
    server = FakeHTTPServer((host, port), app, verbose=verbose)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="%s-%d" % (app.name, server.port), daemon=True)
    thread.start()
    return server, thread, server.port


def stop(server):
    server.shutdown()
    server.server_close()


def write_port_file(path, port):
    path = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=os.path.dirname(path))
    with os.fdopen(fd, "w") as fh:
        fh.write("%d\n" % port)
    os.replace(tmp, path)


def _load_config_arg(text):
    if not text:
        return None
    if text.startswith("@"):
        with open(text[1:]) as fh:
            text = fh.read()
    value = json.loads(text)
    if not isinstance(value, dict):
        raise SystemExit("--config must be a JSON object")
    return value


def main(app_cls, description, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the port here (atomically)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--creds-file", help="shared credential registry file (see common.py)")
    parser.add_argument("--config", help="initial config: JSON object or @file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    app = app_cls(config=_load_config_arg(args.config), creds_file=args.creds_file)
    server = FakeHTTPServer((args.host, args.port), app, verbose=args.verbose)
    port = server.port
    if args.port_file:
        write_port_file(args.port_file, port)
    print("listening on %s:%d" % (args.host, port), flush=True)

    def _stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


def random_token(nbytes, alphabet=None):
    raw = os.urandom(nbytes)
    if alphabet is None:
        return base64.b64encode(raw).decode("ascii")
    return "".join(alphabet[b % len(alphabet)] for b in raw)
