#!/usr/bin/python3
"""Fake EC2 instance metadata service (IMDSv2) for Poky's tests.

    /usr/bin/python3 test/fakes/fake_imds.py --port 0 --port-file FILE [--creds-file FILE]

Point a client at it with AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT.
  PUT /latest/api/token   header X-aws-ec2-metadata-token-ttl-seconds: 1..21600 (else 400;
                          X-Forwarded-For present → 403) → token text          op PutToken
  GET /latest/meta-data/iam/security-credentials/        → role name          op ListRoles
  GET /latest/meta-data/iam/security-credentials/<role>  → {"Code": "Success", "LastUpdated",
      "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
                                                                               op GetRoleCredentials
  GET /latest/meta-data/placement/region, .../availability-zone, .../instance-id,
      /latest/dynamic/instance-identity/document                              op GetMetadata
GETs need header X-aws-ec2-metadata-token with a live token: missing → 401 when require_token
(default), a wrong or expired token → 401 always.  Unknown paths → 404.  Every credentials
answer registers the triple in common's shared registry / --creds-file, with its Expiration, so
fake_ecs and fake_sts accept it.  Faults (POST /_fake/faults) use the op names above.

Config (POST /_fake/config):
  role_name                  default "poky-instance-role" (null → no role: 404)
  credentials_to_serve       {"AccessKeyId", "SecretAccessKey", "Token"}
  rotate                     true → a fresh random triple on every credentials GET
  expiration_offset_seconds  Expiration = fake clock + this (default 21600)
  require_token              default true (false = IMDSv1 allowed)
  region, account_id, clock_skew_seconds, instance_id
  (config "credentials" is the usual SigV4 key table of common.py; unused here.)
Extra control endpoints: GET /_fake/tokens → tokens and their expiry (epoch);
GET /_fake/served → every credentials answer given.
"""

import json
import sys
import time

try:
    from . import common
except ImportError:
    import common

CREDS_PREFIX = "/latest/meta-data/iam/security-credentials"
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class ImdsApp(common.FakeApp):
    name = "fake_imds"
    DEFAULT_CONFIG = {
        "role_name": "poky-instance-role",
        "credentials_to_serve": {
            "AccessKeyId": "ASIAIMDSPOKYTEST0001",
            "SecretAccessKey": "imdsSecretKey/0123456789+abcdefghijklmnop",
            "Token": "IQoJb3JpZ2luX2VjEIMDS+poky/session=token==",
        },
        "rotate": False,
        "expiration_offset_seconds": 21600,
        "require_token": True,
        "instance_id": "i-0123456789abcdef0",
        "max_token_ttl": 21600,
    }

    def reset_state(self):
        self.tokens = {}     # token -> expiry (time.time())
        self.served = []     # every credentials answer

    def error_response(self, status, code, message, req):
        return common.text_response(message + "\n", status)

    def fault_error_type(self, status):
        return "Error"

    def fault_failures(self, failures, req, op):
        return common.text_response("", 500)

    def classify(self, req):
        path = req.raw_path
        if req.method == "PUT" and path == "/latest/api/token":
            return "PutToken", False
        if path.rstrip("/") == CREDS_PREFIX:
            return "ListRoles", False
        if path.startswith(CREDS_PREFIX + "/"):
            return "GetRoleCredentials", False
        return "GetMetadata", False

    def handle_op(self, req, op):
        if op == "PutToken":
            return self._put_token(req)
        if req.method not in ("GET", "HEAD"):
            raise common.ApiError(405, "MethodNotAllowed", "Method Not Allowed")
        token = req.header("x-aws-ec2-metadata-token")
        if token is not None:
            with self.lock:
                expiry = self.tokens.get(token)
            if expiry is None or expiry <= time.time():
                raise common.ApiError(401, "Unauthorized", "Unauthorized")
        elif self.config.get("require_token", True):
            raise common.ApiError(401, "Unauthorized", "Unauthorized")
        role = self.config.get("role_name")
        if op == "ListRoles":
            if not role:
                raise common.ApiError(404, "NotFound", "Not Found")
            return common.text_response(role)
        if op == "GetRoleCredentials":
            name = req.raw_path[len(CREDS_PREFIX) + 1:]
            if not role or name != role:
                raise common.ApiError(404, "NotFound", "Not Found")
            return self._credentials()
        return self._metadata(req.raw_path)

    def _put_token(self, req):
        if req.header("x-forwarded-for") is not None:
            raise common.ApiError(403, "Forbidden", "Forbidden")
        ttl = req.header("x-aws-ec2-metadata-token-ttl-seconds")
        try:
            seconds = int(ttl)
        except (TypeError, ValueError):
            raise common.ApiError(400, "BadRequest", "Bad Request")
        if not 1 <= seconds <= int(self.config.get("max_token_ttl") or 21600):
            raise common.ApiError(400, "BadRequest", "Bad Request")
        token = common.random_token(42).replace("+", "-").replace("/", "_")
        with self.lock:
            self.tokens[token] = time.time() + seconds
        return common.text_response(token, headers=[("X-aws-ec2-metadata-token-ttl-seconds",
                                                     str(seconds))])

    def _credentials(self):
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
        body = {"Code": "Success", "LastUpdated": common.iso8601(now), "Type": "AWS-HMAC",
                "AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                "Token": creds.get("Token"), "Expiration": common.iso8601(expiration)}
        with self.lock:
            self.served.append(body)
        return common.Response(200, json.dumps(body, indent=2), "text/plain")

    def _metadata(self, path):
        cfg = self.config
        region = cfg.get("region", "us-east-1")
        values = {
            "/latest/meta-data/placement/region": region,
            "/latest/meta-data/placement/availability-zone": region + "a",
            "/latest/meta-data/instance-id": cfg.get("instance_id"),
        }
        if path in values:
            return common.text_response(values[path])
        if path == "/latest/dynamic/instance-identity/document":
            doc = {"accountId": cfg.get("account_id"), "region": region,
                   "availabilityZone": region + "a", "instanceId": cfg.get("instance_id"),
                   "instanceType": "t3.micro", "architecture": "x86_64",
                   "imageId": "ami-0123456789abcdef0", "privateIp": "10.0.0.10",
                   "pendingTime": common.iso8601(self.now() - 3600), "version": "2017-09-30"}
            return common.Response(200, json.dumps(doc, indent=2), "text/plain")
        raise common.ApiError(404, "NotFound", "Not Found")

    def control_extra(self, method, parts, body, req):
        if parts and parts[0] == "tokens" and method == "GET":
            with self.lock:
                return common.json_response(self.tokens)
        if parts and parts[0] == "served" and method == "GET":
            with self.lock:
                return common.json_response(self.served)
        return None


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the ImdsApp."""
    return common.start_server(ImdsApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(ImdsApp, "Fake EC2 instance metadata service (IMDSv2)"))
