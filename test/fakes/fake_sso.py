#!/usr/bin/python3
"""Fake IAM Identity Center (SSO) portal for Poky's tests: GetRoleCredentials only.

    /usr/bin/python3 test/fakes/fake_sso.py --port 0 --port-file FILE [--creds-file FILE]

Point a client at it with AWS_ENDPOINT_URL_SSO=http://127.0.0.1:PORT.
Every request is judged by botocore's own `sso` service model (botocore.loaders): the
operation's HTTP method and requestUri, each required member present where the model puts it
(query string role_name and account_id, header x-amz-sso_bearer_token), no query argument the
model does not know, and no Authorization header (the operation's authtype is "none": it is
sent unsigned).  A request that breaks the model gets 400 InvalidRequestException and
"model_errors" in its call record.

  GET /federation/credentials?role_name=R&account_id=A   (op GetRoleCredentials)
      token not in config "access_tokens"  -> 401 UnauthorizedException
      (account_id, role_name) not in "roles" -> 403 ForbiddenException
      else 200 {"roleCredentials": {accessKeyId, secretAccessKey, sessionToken,
                                    expiration (ms since the epoch)}}
  anything else -> 404 (op Other)

Config (POST /_fake/config):
  access_tokens              tokens accepted (default ["poky-sso-access-token"])
  roles                      [[account_id, role_name], ...] (default [["123456789012", "PokyDev"]])
  credentials_to_serve       {"AccessKeyId", "SecretAccessKey", "Token"}
  expiration_offset_seconds  expiration = fake clock + this (default 3600)
The credentials served are registered in common's registry, so fake_ecs / fake_sts accept them.
"""

import json
import sys

import botocore.loaders

try:
    from . import common
except ImportError:
    import common

MODEL = botocore.loaders.Loader().load_service_model("sso", "service-2")
OP = MODEL["operations"]["GetRoleCredentials"]
INPUT = MODEL["shapes"][OP["input"]["shape"]]


def model_errors(req):
    """What the request does differently from botocore's model of GetRoleCredentials."""
    errs = []
    if req.method != OP["http"]["method"]:
        errs.append("method %s, the model says %s" % (req.method, OP["http"]["method"]))
    if req.raw_path != OP["http"]["requestUri"]:
        errs.append("path %s, the model says %s" % (req.raw_path, OP["http"]["requestUri"]))
    known_query = set()
    for member, spec in INPUT["members"].items():
        where, name = spec.get("location"), spec.get("locationName", member)
        required = member in INPUT.get("required", [])
        if where == "querystring":
            known_query.add(name)
            values = req.query.get(name)
            if required and not values:
                errs.append("query %s (%s) is missing" % (name, member))
            elif values and len(values) != 1:
                errs.append("query %s given %d times" % (name, len(values)))
        elif where == "header":
            if required and not req.header(name):
                errs.append("header %s (%s) is missing" % (name, member))
    for name in req.query:
        if name not in known_query:
            errs.append("query %s is not in the model" % name)
    if OP.get("authtype") == "none" and req.header("authorization") is not None:
        errs.append("Authorization sent, but the operation is unsigned (authtype none)")
    return errs


class SsoApp(common.FakeApp):
    name = "fake_sso"
    DEFAULT_CONFIG = {
        "access_tokens": ["poky-sso-access-token"],
        "roles": [["123456789012", "PokyDev"]],
        "credentials_to_serve": {
            "AccessKeyId": "ASIASSOPOKY000000001",
            "SecretAccessKey": "ssoSecretKey/0123456789+abcdefghijklmn",
            "Token": "IQoJb3JpZ2luX2VjESSO+poky/session=token==",
        },
        "expiration_offset_seconds": 3600,
    }

    def error_response(self, status, code, message, req):
        return common.Response(status, json.dumps({"message": message}), "application/json",
                               [("x-amzn-ErrorType", code)])

    def fault_error_type(self, status):
        return "InternalServerException" if status >= 500 else "InvalidRequestException"

    def fault_failures(self, failures, req, op):
        return common.json_response({}, 500)

    def classify(self, req):
        op = "GetRoleCredentials" if req.raw_path == OP["http"]["requestUri"] else "Other"
        return op, False

    def record_extra(self, req, call):
        if call.get("op") == "GetRoleCredentials":
            call["model_errors"] = model_errors(req)

    def handle_op(self, req, op):
        if op != "GetRoleCredentials":
            raise common.ApiError(404, "ResourceNotFoundException", "no such path")
        errs = model_errors(req)
        if errs:
            raise common.ApiError(400, "InvalidRequestException", "; ".join(errs))
        cfg = self.config
        if req.header("x-amz-sso_bearer_token") not in (cfg.get("access_tokens") or []):
            raise common.ApiError(401, "UnauthorizedException", "Session token not found or "
                                  "invalid")
        pair = [req.query["account_id"][0], req.query["role_name"][0]]
        if pair not in [list(x) for x in cfg.get("roles") or []]:
            raise common.ApiError(403, "ForbiddenException", "No access")
        creds = dict(cfg.get("credentials_to_serve") or {})
        expiration = self.now() + float(cfg.get("expiration_offset_seconds") or 0)
        common.register_credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                                    creds.get("Token"), expiration, source=self.name,
                                    creds_file=self.creds_file)
        body = {"roleCredentials": {"accessKeyId": creds["AccessKeyId"],
                                    "secretAccessKey": creds["SecretAccessKey"],
                                    "sessionToken": creds.get("Token"),
                                    "expiration": int(expiration * 1000)}}
        return common.Response(200, json.dumps(body), "application/json")


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the SsoApp."""
    return common.start_server(SsoApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(SsoApp, "Fake IAM Identity Center (SSO) portal"))
