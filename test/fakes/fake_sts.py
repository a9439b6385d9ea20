#!/usr/bin/python3
"""Fake AWS STS endpoint (query protocol, XML answers) for Poky's tests.

    /usr/bin/python3 test/fakes/fake_sts.py --port 0 --port-file FILE [--creds-file FILE]

Service: POST / (application/x-www-form-urlencoded body) or GET /?query, with
Action=...&Version=2011-06-15.  Operations:
  AssumeRole                  SigV4 for service "sts" (botocore judges, see common.py)
  AssumeRoleWithWebIdentity   unsigned (an Authorization header, if any, is ignored)
  GetCallerIdentity           signed; says who the credentials belong to
Parameters are decoded with botocore's STS model (Name.member.N lists, numbers) and validated
with it (ValidationError, HTTP 400).  Errors are
<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
<RequestId>..</RequestId></ErrorResponse>; signature errors are HTTP 403 SignatureDoesNotMatch,
unknown keys 403 InvalidClientTokenId.

Every issued (AccessKeyId, SecretAccessKey, SessionToken) is registered in common's shared
registry (all fakes in this process accept it) and appended to --creds-file (fakes of other
processes given the same file accept it), with its Expiration.

Config (POST /_fake/config):
  region, account_id, credentials, session_tokens, clock_skew_seconds   (see common.py)
  issued_duration_seconds   lifetime of issued credentials; null (default) = the request's
                            DurationSeconds, or 3600.  May be short or negative for refresh tests.
  max_session_duration      the role's MaxSessionDuration (default 3600): a larger
                            DurationSeconds is a ValidationError, as on AWS
  roles                     null = any well-formed role ARN may be assumed; else a list
  external_id               if set, AssumeRole must carry this ExternalId (else AccessDenied)
  web_identity_tokens       accepted WebIdentityToken values (default ["poky-web-identity-token"]);
                            others → 400 InvalidIdentityToken
  expired_web_identity_tokens   these → 400 ExpiredTokenException
Extra control endpoint:
  GET /_fake/issued         [{AccessKeyId, SecretAccessKey, SessionToken, Expiration, RoleArn,
                              RoleSessionName, Action, time}]
"""

import re
import sys
import threading
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

try:
    from . import common
except ImportError:
    import common

XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
VERSION = "2011-06-15"
OPERATIONS = ("AssumeRole", "AssumeRoleWithWebIdentity", "GetCallerIdentity")
UNSIGNED = ("AssumeRoleWithWebIdentity",)
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$")
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

_MODEL = None
_MODEL_LOCK = threading.Lock()


def service_model():
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = common.load_service_model("sts")
        return _MODEL


def decode_query(pairs, shape):
    """Turn flat query parameters (Tags.member.1.Key=...) into the nested input botocore's
    validator expects, guided by the model; unknown names are kept so they are reported."""
    tree = {}
    for key, value in pairs:
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {} if nxt is None else {"": nxt}
                node[part] = nxt
            node = nxt
        last = parts[-1]
        if isinstance(node.get(last), dict):
            node[last][""] = value
        else:
            node[last] = value
    return _convert(tree, shape)


def _convert(node, shape):
    t = shape.type_name
    if t == "structure":
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            for name, member in shape.members.items():
                if member.serialization.get("name", name) == key:
                    out[name] = _convert(value, member)
                    break
            else:
                out[key] = value
        return out
    if t == "list":
        if node == "":
            return []
        if isinstance(node, dict):
            inner = node if shape.serialization.get("flattened") else node.get("member", node)
            if isinstance(inner, dict):
                items = sorted((int(k), v) for k, v in inner.items() if k.isdigit())
                return [_convert(v, shape.member) for _, v in items]
        return node
    if t == "map":
        if isinstance(node, dict):
            entries = node.get("entry", node)
            if isinstance(entries, dict):
                out = {}
                for k in sorted((k for k in entries if k.isdigit()), key=int):
                    e = entries[k]
                    if isinstance(e, dict) and "key" in e:
                        out[e["key"]] = _convert(e.get("value"), shape.value)
                return out
        return node
    if isinstance(node, str):
        if t in ("integer", "long"):
            try:
                return int(node)
            except ValueError:
                return node
        if t in ("float", "double"):
            try:
                return float(node)
            except ValueError:
                return node
        if t == "boolean":
            return {"true": True, "false": False}.get(node.lower(), node)
    return node


def xml_element(tag, content, indent=0):
    pad = "  " * indent
    if isinstance(content, list):
        inner = "".join(xml_element(t, c, indent + 1) for t, c in content)
        return "%s<%s>\n%s%s</%s>\n" % (pad, tag, inner, pad, tag)
    return "%s<%s>%s</%s>\n" % (pad, tag, escape(str(content)), tag)


class StsApp(common.FakeApp):
    name = "fake_sts"
    signing_service = "sts"
    THROTTLE = (400, "Throttling", "Rate exceeded")   # STS's code
    DEFAULT_CONFIG = {
        "issued_duration_seconds": None,
        "max_session_duration": 3600,
        "roles": None,
        "external_id": None,
        "web_identity_tokens": ["poky-web-identity-token"],
        "expired_web_identity_tokens": [],
    }

    def reset_state(self):
        self.issued = []

    # ------------------------------------------------------------------ protocol
    def error_response(self, status, code, message, req):
        body = ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
                '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n'
                '</ErrorResponse>\n' % (XMLNS, "Receiver" if status >= 500 else "Sender",
                                         escape(code), escape(message), req.request_id))
        return common.Response(status, body, "text/xml")

    def auth_error(self, failure, req):
        code, status = {
            "missing": ("MissingAuthenticationToken", 403),
            "incomplete": ("IncompleteSignature", 400),
            "unknown_key": ("InvalidClientTokenId", 403),
            "bad_token": ("InvalidClientTokenId", 403),
            "expired_token": ("ExpiredToken", 400),
        }.get(failure.kind, ("SignatureDoesNotMatch", 403))
        message = failure.message
        if failure.kind == "missing":
            message = "Request is missing Authentication Token"
        return self.error_response(status, code, message, req)

    def fault_error_type(self, status):
        if status == 503:
            return "ServiceUnavailable"
        return "InternalFailure" if status >= 500 else "Throttling"

    def classify(self, req):
        pairs = parse_qsl(req.raw_query, keep_blank_values=True)
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if req.method == "POST" and ctype == "application/x-www-form-urlencoded":
            pairs += parse_qsl(req.body_text(), keep_blank_values=True)
        params = {}
        for k, v in pairs:
            params.setdefault(k, v)
        req.params = params
        req.pairs = pairs
        op = params.get("Action")
        return op, op not in UNSIGNED

    def record_extra(self, req, call):
        call["params"] = dict(req.params)

    def handle_op(self, req, op):
        if req.raw_path != "/" or req.method not in ("GET", "POST"):
            raise common.ApiError(400, "InvalidAction", "STS is served at / by GET or POST")
        if not op:
            raise common.ApiError(400, "MissingAction", "Missing Action")
        version = req.params.get("Version")
        if op not in OPERATIONS or version != VERSION:
            raise common.ApiError(400, "InvalidAction", "Could not find operation %s for version %s"
                                  % (op, version if version is not None else "NO_VERSION_SPECIFIED"))
        shape = service_model().operation_model(op).input_shape
        pairs = [(k, v) for k, v in req.pairs if k not in ("Action", "Version")]
        params = decode_query(pairs, shape) if shape is not None else {}
        if shape is not None:
            report = common.model_validate(params, shape)
            if report:
                raise common.ApiError(400, "ValidationError", report)
        body = getattr(self, "op_" + op)(params, req)
        return common.Response(200, body, "text/xml")

    # ------------------------------------------------------------------ operations
    def _check_role(self, role_arn, duration):
        m = ROLE_ARN_RE.match(role_arn)
        if not m:
            raise common.ApiError(400, "ValidationError", "Request ARN is invalid")
        roles = self.config.get("roles")
        if roles is not None and role_arn not in roles:
            raise common.ApiError(403, "AccessDenied", "Not authorized to perform sts:AssumeRole "
                                                       "on resource: %s" % role_arn)
        if duration is not None and duration > int(self.config.get("max_session_duration") or 3600):
            raise common.ApiError(400, "ValidationError",
                                  "The requested DurationSeconds exceeds the MaxSessionDuration "
                                  "set for this role.")
        return m.group(1), m.group(3)

    def _issue(self, action, role_arn, session, duration):
        cfg = self.config
        lifetime = cfg.get("issued_duration_seconds")
        if lifetime is None:
            lifetime = duration if duration is not None else 3600
        now = self.now()
        expiration = now + float(lifetime)
        ak = "ASIA" + common.random_token(16, KEY_ALPHABET)
        sk = common.random_token(30)                      # 40 base64 chars, has + and /
        token = "IQoJb3JpZ2luX2VjE" + common.random_token(180)   # long, with + / =
        common.register_credentials(ak, sk, token, expiration, source=self.name,
                                    creds_file=self.creds_file)
        with self.lock:
            self.issued.append({"AccessKeyId": ak, "SecretAccessKey": sk, "SessionToken": token,
                                "Expiration": common.iso8601(expiration), "RoleArn": role_arn,
                                "RoleSessionName": session, "Action": action, "time": now})
        return [("AccessKeyId", ak), ("SecretAccessKey", sk), ("SessionToken", token),
                ("Expiration", common.iso8601(expiration))]

    def _wrap(self, op, result, req):
        return ('<%sResponse xmlns="%s">\n' % (op, XMLNS)
                + xml_element(op + "Result", result, 1)
                + xml_element("ResponseMetadata", [("RequestId", req.request_id)], 1)
                + "</%sResponse>\n" % op)

    def _role_user(self, account, role_name, session):
        role_id = "AROA" + common.random_token(17, KEY_ALPHABET)
        return [("Arn", "arn:aws:sts::%s:assumed-role/%s/%s" % (account, role_name, session)),
                ("AssumedRoleId", "%s:%s" % (role_id, session))]

    def op_AssumeRole(self, params, req):
        role_arn, session = params["RoleArn"], params["RoleSessionName"]
        duration = params.get("DurationSeconds")
        account, role_name = self._check_role(role_arn, duration)
        want_ext = self.config.get("external_id")
        if want_ext is not None and params.get("ExternalId") != want_ext:
            raise common.ApiError(403, "AccessDenied", "Not authorized to perform sts:AssumeRole "
                                                       "(ExternalId mismatch)")
        result = [("AssumedRoleUser", self._role_user(account, role_name, session)),
                  ("Credentials", self._issue("AssumeRole", role_arn, session, duration))]
        if params.get("SourceIdentity"):
            result.insert(0, ("SourceIdentity", params["SourceIdentity"]))
        result.append(("PackedPolicySize", 6))
        return self._wrap("AssumeRole", result, req)

    def op_AssumeRoleWithWebIdentity(self, params, req):
        role_arn, session = params["RoleArn"], params["RoleSessionName"]
        token = params["WebIdentityToken"]
        duration = params.get("DurationSeconds")
        if token in (self.config.get("expired_web_identity_tokens") or []):
            raise common.ApiError(400, "ExpiredTokenException", "Token expired: current date/time "
                                                                "is past the token's exp claim")
        if token not in (self.config.get("web_identity_tokens") or []):
            raise common.ApiError(400, "InvalidIdentityToken",
                                  "The ID Token provided is not a valid JWT or was not accepted.")
        account, role_name = self._check_role(role_arn, duration)
        result = [("Audience", "sts.amazonaws.com"),
                  ("AssumedRoleUser", self._role_user(account, role_name, session)),
                  ("Provider", "arn:aws:iam::%s:oidc-provider/oidc.poky.test" % account),
                  ("Credentials", self._issue("AssumeRoleWithWebIdentity", role_arn, session,
                                              duration)),
                  ("SubjectFromWebIdentityToken", "system:serviceaccount:poky:worker")]
        return self._wrap("AssumeRoleWithWebIdentity", result, req)

    def op_GetCallerIdentity(self, params, req):
        ak = req.auth["access_key"]
        account = self.config["account_id"]
        with self.lock:
            hit = next((i for i in self.issued if i["AccessKeyId"] == ak), None)
        if hit is not None:
            m = ROLE_ARN_RE.match(hit["RoleArn"])
            arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (m.group(1), m.group(3),
                                                           hit["RoleSessionName"])
            user_id = "AROAPOKYFAKEROLE:%s" % hit["RoleSessionName"]
            account = m.group(1)
        else:
            arn = "arn:aws:iam::%s:user/poky-test" % account
            user_id = "AIDAPOKYFAKEUSER"
        return self._wrap("GetCallerIdentity",
                          [("Arn", arn), ("UserId", user_id), ("Account", account)], req)

    # ------------------------------------------------------------------ control
    def control_extra(self, method, parts, body, req):
        if parts and parts[0] == "issued" and method == "GET":
            with self.lock:
                return common.json_response(self.issued)
        return None


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the StsApp."""
    return common.start_server(StsApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(StsApp, "Fake AWS STS (query protocol, SigV4 checked by botocore)"))
