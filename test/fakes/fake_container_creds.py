#!/usr/bin/python3
"""Fake ECS/EKS container credentials endpoint for Poky's tests.

    /usr/bin/python3 test/fakes/fake_container_creds.py --port 0 --port-file FILE [--creds-file FILE]

Point a client at it with AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/v2/credentials/poky-task
(plus AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE] when authorization_token is set).
  GET <relative_uri>  → {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
                        (op GetCredentials); any other path → 404 (op Other)
  Authorization       when config authorization_token is set the header must equal it:
                      missing or different → 401 {"code": "AccessDenied", "message": ...}
Every answer registers the triple in common's shared registry / --creds-file, with its
Expiration, so fake_ecs and fake_sts accept it.

Config (POST /_fake/config):
  relative_uri               default "/v2/credentials/poky-task" (query string ignored)
  authorization_token        default null (no check)
  credentials_to_serve       {"AccessKeyId", "SecretAccessKey", "Token"}
  rotate                     true → a fresh random triple on every GET
  expiration_offset_seconds  Expiration = fake clock + this (default 3600)
  role_arn                   default "arn:aws:iam::123456789012:role/poky-task-role"
  clock_skew_seconds
Extra control endpoint: GET /_fake/served → every credentials answer given.
"""

import json
import sys

try:
    from . import common
except ImportError:
    import common

KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class ContainerCredsApp(common.FakeApp):
    name = "fake_container_creds"
    DEFAULT_CONFIG = {
        "relative_uri": "/v2/credentials/poky-task",
        "authorization_token": None,
        "credentials_to_serve": {
            "AccessKeyId": "ASIACONTAINERPOKY001",
            "SecretAccessKey": "containerSecretKey/0123456789+abcdefghij",
            "Token": "IQoJb3JpZ2luX2VjECONTAINER+poky/session=token==",
        },
        "rotate": False,
        "expiration_offset_seconds": 3600,
        "role_arn": "arn:aws:iam::123456789012:role/poky-task-role",
    }

    def reset_state(self):
        self.served = []

    def error_response(self, status, code, message, req):
        return common.json_response({"code": code, "message": message}, status)

    def fault_error_type(self, status):
        return "InternalServerError" if status >= 500 else "ClientError"

    def fault_failures(self, failures, req, op):
        return common.json_response({}, 500)

    def classify(self, req):
        want = (self.config.get("relative_uri") or "").partition("?")[0]
        return ("GetCredentials" if req.raw_path == want else "Other"), False

    def handle_op(self, req, op):
        if op != "GetCredentials":
            raise common.ApiError(404, "NotFound", "no credentials at %s" % req.raw_path)
        if req.method not in ("GET", "HEAD"):
            raise common.ApiError(405, "MethodNotAllowed", "use GET")
        want = self.config.get("authorization_token")
        if want is not None:
            got = req.header("authorization")
            if got is None:
                raise common.ApiError(401, "AccessDenied", "Authorization header is missing")
            if got != want:
                raise common.ApiError(401, "AccessDenied", "Authorization token is invalid")
        cfg = self.config
        now = self.now()
        if cfg.get("rotate"):
            creds = {"AccessKeyId": "ASIA" + common.random_token(16, KEY_ALPHABET),
                     "SecretAccessKey": common.random_token(30),
                     "Token": "IQoJb3JpZ2luX2VjE" + common.random_token(120)}
        else:
            creds = dict(cfg.get("credentials_to_serve") or {})
        expiration = now + float(cfg.get("expiration_offset_seconds") or 0)
        common.register_credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                                    creds.get("Token"), expiration, source=self.name,
                                    creds_file=self.creds_file)
        body = {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                "Token": creds.get("Token"), "Expiration": common.iso8601(expiration),
                "RoleArn": cfg.get("role_arn")}
        with self.lock:
            self.served.append(body)
        return common.Response(200, json.dumps(body), "application/json")

    def control_extra(self, method, parts, body, req):
        if parts and parts[0] == "served" and method == "GET":
            with self.lock:
                return common.json_response(self.served)
        return None


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the ContainerCredsApp."""
    return common.start_server(ContainerCredsApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(ContainerCredsApp, "Fake ECS/EKS container credentials endpoint"))
