#!/usr/bin/python3
"""Fake Amazon CloudWatch Logs endpoint (JSON 1.1) for Poky's tests; botocore is the judge.

    /usr/bin/python3 test/fakes/fake_logs.py --port 0 --port-file FILE [--creds-file FILE]

Service: POST / with Content-Type application/x-amz-json-1.1 and
X-Amz-Target Logs_20140328.GetLogEvents, SigV4 for service "logs" (checked by botocore, see
common.py); request bodies validated against the "logs" model shipped in python3-botocore
(botocore.loaders), answers against its output shape (a bad answer is the fake's bug: 500).

GetLogEvents as AWS pages it: a page holds at most `limit` events (default and maximum 10000;
config page_size lowers the cap, standing in for the 1 MB page limit); tokens are
"f/<position>" (forward) and "b/<position>" (backward), 56 digits like AWS's.  Reading forward
from the head (startFromHead=true, or a forward token), the end of the stream is the page
whose nextForwardToken is the token that was sent (an empty page).  startFromHead=false without
a token gives the newest events.  A group or stream that does not exist is HTTP 400
ResourceNotFoundException, as AWS answers.

Config (POST /_fake/config, shallow merge):
  region, account_id, credentials, session_tokens, clock_skew_seconds, latency, throttle
  streams      {"GROUP": {"STREAM": ["message", ...] or [{"timestamp": ms, "message": ...}]}}
  page_size    events per page at most (default 10000)
Control: POST /_fake/streams/append {"group", "stream", "messages": [...]} adds events.
Call log (/_fake/calls): each call has "authz" {"log_group", "log_stream"}: what IAM
authorizes GetLogEvents on (the log-stream resource), null when refused before that.
"""

import json
import re
import sys
import threading
import time

try:
    from . import common
except ImportError:
    import common

TARGET_PREFIX = "Logs_20140328."
OPERATIONS = ("GetLogEvents",)
JSON_CT = "application/x-amz-json-1.1"
TOKEN_RE = re.compile(r"^([fb])/(\d{1,56})$")
MAX_LIMIT = 10000

_MODEL = None
_MODEL_LOCK = threading.Lock()


def service_model():
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = common.load_service_model("logs")
        return _MODEL


def _token(kind, pos):
    return "%s/%056d" % (kind, pos)


class LogsApp(common.FakeApp):
    name = "fake_logs"
    signing_service = "logs"
    DEFAULT_CONFIG = {"streams": {}, "page_size": MAX_LIMIT}

    def record_extra(self, req, call):
        req.call = call
        call["authz"] = None

    def error_response(self, status, code, message, req):
        return common.json_response({"__type": code, "message": message}, status, JSON_CT)

    def auth_error(self, failure, req):
        kind = failure.kind
        code = {"missing": "MissingAuthenticationTokenException",
                "incomplete": "IncompleteSignatureException",
                "unknown_key": "UnrecognizedClientException",
                "bad_token": "UnrecognizedClientException",
                "expired_token": "ExpiredTokenException"}.get(kind, "InvalidSignatureException")
        return self.error_response(400, code, failure.message, req)

    def fault_error_type(self, status):
        return "ServiceUnavailableException" if status >= 500 else "InvalidParameterException"

    def classify(self, req):
        target = req.header("x-amz-target") or ""
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else (target or None)
        return op, True

    def handle_op(self, req, op):
        if req.method != "POST" or req.raw_path != "/":
            raise common.ApiError(400, "UnknownOperationException",
                                  "Logs accepts only POST / (got %s %s)" % (req.method,
                                                                           req.raw_path))
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != JSON_CT:
            raise common.ApiError(400, "SerializationException",
                                  "Content-Type must be %s (got %r)" % (JSON_CT, ctype or None))
        if op not in OPERATIONS:
            raise common.ApiError(400, "UnknownOperationException",
                                  "Unknown or unsupported operation %r" % op)
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise common.ApiError(400, "SerializationException",
                                  "Could not parse the request body as JSON: %s" % exc)
        if not isinstance(body, dict):
            raise common.ApiError(400, "SerializationException",
                                  "The request body must be a JSON object")
        report = common.model_validate(body, service_model().operation_model(op).input_shape)
        if report:
            raise common.ApiError(400, "InvalidParameterException", report)
        with self.lock:
            result = self.op_GetLogEvents(body, req)
        report = common.model_validate(result, service_model().operation_model(op).output_shape)
        if report:
            raise common.ApiError(500, "ServiceUnavailableException",
                                  "fake_logs answer invalid: " + report)
        return common.json_response(result, 200, JSON_CT)

    def _events(self, group, stream):
        groups = self.config.get("streams") or {}
        if group not in groups:
            raise common.ApiError(400, "ResourceNotFoundException",
                                  "The specified log group does not exist.")
        events = groups[group].get(stream)
        if events is None:
            raise common.ApiError(400, "ResourceNotFoundException",
                                  "The specified log stream does not exist.")
        out = []
        for i, ev in enumerate(events):
            if isinstance(ev, str):
                ev = {"timestamp": 1700000000000 + i, "message": ev}
            out.append({"timestamp": ev["timestamp"], "message": ev["message"],
                        "ingestionTime": ev["timestamp"] + 5})
        return out

    def op_GetLogEvents(self, body, req):
        group = body.get("logGroupName")
        if (group is None) == (body.get("logGroupIdentifier") is None):
            raise common.ApiError(400, "InvalidParameterException",
                                  "Exactly one of logGroupName and logGroupIdentifier is needed.")
        group = group or body["logGroupIdentifier"]
        stream = body["logStreamName"]
        call = getattr(req, "call", None)
        if call is not None:
            call["authz"] = {"log_group": group, "log_stream": stream}
        events = self._events(group, stream)
        limit = min(body.get("limit") or MAX_LIMIT, int(self.config.get("page_size") or MAX_LIMIT))
        if limit < 1:
            raise common.ApiError(400, "InvalidParameterException", "limit must be >= 1")
        token = body.get("nextToken")
        n = len(events)
        if token:
            m = TOKEN_RE.match(token)
            if not m or int(m.group(2)) > n:
                raise common.ApiError(400, "InvalidParameterException",
                                      "The specified nextToken is invalid.")
            kind, pos = m.group(1), int(m.group(2))
        else:
            kind, pos = ("f", 0) if body.get("startFromHead") else ("b", n)
        if kind == "f":
            start, end = pos, min(n, pos + limit)
        else:
            start, end = max(0, pos - limit), pos
        page = events[start:end]
        # At the end of a forward read the same token comes back (AWS's end marker); the
        # same for a backward read at the head.
        fwd = token if (kind == "f" and token and not page) else _token("f", end)
        bwd = token if (kind == "b" and token and not page) else _token("b", start)
        return {"events": page, "nextForwardToken": fwd, "nextBackwardToken": bwd}

    def control_extra(self, method, parts, body, req):
        if parts[:2] == ["streams", "append"] and method == "POST":
            body = body or {}
            with self.lock:
                streams = self.config.setdefault("streams", {})
                lst = streams.setdefault(body["group"], {}).setdefault(body["stream"], [])
                base = int(time.time() * 1000)
                for i, msg in enumerate(body.get("messages") or []):
                    lst.append({"timestamp": base + i, "message": msg})
            return common.json_response({"ok": True})
        return None


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the LogsApp."""
    return common.start_server(LogsApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(LogsApp, "Fake Amazon CloudWatch Logs (JSON 1.1, SigV4 by botocore)"))
