"""The AWS credentials chain end to end: test/tools/credsctl against the local fakes.

credsctl builds an AWS client from the environment (which builds the chain), resolves
credentials and prints the source, the access key id, whether a token came with them, their
expiration and the SHA-256 of the secret -- never the secret.  Each test gets a clean
environment: no AWS variables, HOME and the shared files in a temporary directory, IMDS off
unless the test points it at fake_imds.  The fakes run in this process (module scope) and are
reset before every test; fake_sts checks every AssumeRole signature with botocore.
"""
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import build_dir

FAKES = pathlib.Path(__file__).resolve().parents[1] / "fakes"
sys.path.insert(0, str(FAKES))

import common  # noqa: E402
import fake_container_creds  # noqa: E402
import fake_imds  # noqa: E402
import fake_sso  # noqa: E402
import fake_sts  # noqa: E402

AK, SK = "AKIDPOKYTEST", "pokySecretKey"      # fake_sts's default key pair
ROLE = "arn:aws:iam::123456789012:role/poky-dev"
WEB_TOKEN = "poky-web-identity-token"
CLOSED = "http://127.0.0.1:1"                  # nothing listens: refused at once


def sha256(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


class Fake:
    def __init__(self, server):
        self.server = server
        self.url = "http://127.0.0.1:%d" % server.port

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_fake/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def reset(self):
        self.ctl("POST", "reset", {})

    def config(self, **kw):
        return self.ctl("POST", "config", kw)

    def faults(self, op, *faults):
        return self.ctl("POST", "faults", {"op": op, "faults": list(faults)})

    def calls(self, op=None):
        return self.ctl("GET", "calls" + ("?op=" + op if op else ""))

    def get(self, path):
        return self.ctl("GET", path)


def _server(module):
    @pytest.fixture(scope="module")
    def fixture():
        srv, _thread, _port = module.start(port=0)
        fake = Fake(srv)
        yield fake
        common.stop(srv)
    return fixture


sts_server = _server(fake_sts)
imds_server = _server(fake_imds)
container_server = _server(fake_container_creds)
sso_server = _server(fake_sso)


@pytest.fixture
def sso(sso_server):
    sso_server.reset()
    return sso_server


@pytest.fixture
def sts(sts_server):
    sts_server.reset()
    return sts_server


@pytest.fixture
def imds(imds_server):
    imds_server.reset()
    return imds_server


@pytest.fixture
def container(container_server):
    container_server.reset()
    return container_server


@pytest.fixture(scope="session")
def credsctl() -> pathlib.Path:
    p = build_dir() / "test-tools" / "credsctl"
    if not p.exists():
        pytest.fail(f"{p} not built; run `make test` (tool-bins)")
    return p


class Env(dict):
    """The environment for one credsctl run, and the files it reads."""

    def __init__(self, tmp: pathlib.Path, sts_url: str):
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        super().__init__(base)
        self.tmp = tmp
        self.update({
            "HOME": str(tmp),
            "AWS_CONFIG_FILE": str(tmp / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_STS": sts_url,
            "AWS_MAX_ATTEMPTS": "1",
            "POKY_RETRY_BASE_MS": "1",
        })

    def write(self, name: str, text: str, mode: int = 0o600) -> pathlib.Path:
        p = self.tmp / name
        p.write_text(text)
        p.chmod(mode)
        return p

    def imds(self, url: str):
        self.pop("AWS_EC2_METADATA_DISABLED", None)
        self["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = url


@pytest.fixture
def env(tmp_path, sts):
    return Env(tmp_path, sts.url)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]

    @property
    def one(self):
        assert self.rc == 0, self.stderr
        assert len(self.lines) == 1, self.stdout
        return self.lines[0]

    @property
    def error(self):
        assert self.rc == 1, (self.rc, self.stdout, self.stderr)
        return self.lines[-1]


SECRETS = [SK, WEB_TOKEN, "poky-sso-access-token", "ssoSecretKey", "containerSecret", "imdsSecret", "processSecretKey",
           "envSecretKey", "fileSecretKey"]


def run(credsctl, env, *args, timeout=60) -> Result:
    proc = subprocess.run([str(credsctl)] + list(args), env=env, capture_output=True,
                          text=True, timeout=timeout)
    res = Result(proc)
    # Whatever happened, no secret may be printed.
    for s in SECRETS:
        assert s not in proc.stdout and s not in proc.stderr, s
    assert "AddressSanitizer" not in proc.stderr and "runtime error" not in proc.stderr, \
        proc.stderr
    return res


# --------------------------------------------------------------------------- each provider

def test_env_keys(credsctl, env):
    env.update(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="envSecretKey",
               AWS_SESSION_TOKEN="envToken")
    out = run(credsctl, env).one
    assert out == {"source": "env", "access_key_id": "AKIDENV", "token": True,
                   "expiration": None, "secret_sha256": sha256("envSecretKey")}


def test_profile_static_keys_from_credentials_file(credsctl, env):
    env.write("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                             "aws_secret_access_key = fileSecretKey\n")
    out = run(credsctl, env).one
    assert (out["source"], out["access_key_id"], out["token"]) == \
        ("profile:default", "AKIDFILE", False)
    assert out["secret_sha256"] == sha256("fileSecretKey")


def test_profile_from_config_file_with_aws_profile(credsctl, env):
    env.write("config", "[profile dev]\naws_access_key_id = AKIDDEV\n"
                        "aws_secret_access_key = fileSecretKey\n"
                        "[dev2]\naws_access_key_id = AKIDNOT\n"
                        "aws_secret_access_key = fileSecretKey\n")
    env["AWS_PROFILE"] = "dev"
    assert run(credsctl, env).one["source"] == "profile:dev"
    # "[dev2]" in the config file is not a profile: asking for it fails.
    env["AWS_PROFILE"] = "dev2"
    err = run(credsctl, env).error
    assert 'no profile "dev2"' in err["message"]


def test_profile_option_beats_env_keys(credsctl, env):
    env.write("credentials", "[ops]\naws_access_key_id = AKIDOPS\n"
                             "aws_secret_access_key = fileSecretKey\n")
    env.update(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="envSecretKey")
    assert run(credsctl, env, "--profile", "ops").one["source"] == "profile:ops"


def test_credential_process(credsctl, env):
    script = env.write("helper.sh", """#!/bin/sh
[ "$1" = "--role" ] && [ "$2" = "two words" ] || { echo "bad args: $*" >&2; exit 2; }
echo "helper ran" >&2
cat <<EOF
{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "processSecretKey",
 "SessionToken": "procToken", "Expiration": "2099-01-01T00:00:00Z"}
EOF
""", 0o700)
    env.write("config", f"[default]\ncredential_process = {script} --role 'two words'\n")
    res = run(credsctl, env)
    out = res.one
    assert out == {"source": "process:default", "access_key_id": "AKIDPROC", "token": True,
                   "expiration": "2099-01-01T00:00:00Z",
                   "secret_sha256": sha256("processSecretKey")}
    assert "helper ran" in res.stderr            # the helper's stderr is passed through


def test_credential_process_bad_output(credsctl, env):
    script = env.write("helper.sh", "#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": "
                                    "\"A\", \"SecretAccessKey\": \"processSecretKey\"}'\n",
                       0o700)
    env.write("config", f"[default]\ncredential_process = {script}\n")
    err = run(credsctl, env).error
    assert err["error"] == "auth error"
    assert "Version is not 1" in err["message"]


def test_container_with_authorization_token(credsctl, env, container):
    container.config(authorization_token="Bearer tok-1",
                     credentials_to_serve={"AccessKeyId": "ASIACONT",
                                           "SecretAccessKey": "containerSecret",
                                           "Token": "contToken"})
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.url + "/v2/credentials/poky-task"
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer tok-1"
    out = run(credsctl, env).one
    assert (out["source"], out["access_key_id"], out["token"]) == \
        ("container", "ASIACONT", True)
    assert out["secret_sha256"] == sha256("containerSecret")
    assert out["expiration"] is not None

    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer wrong"
    err = run(credsctl, env).error
    assert "container failed" in err["message"] and "401" in err["message"]


def test_container_token_file_is_read_again_on_each_refresh(credsctl, env, container):
    container.config(authorization_token="tok-A")
    tok = env.write("token", "tok-A")
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.url + "/v2/credentials/poky-task"
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(tok)
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored-when-a-file-is-set"
    proc = subprocess.Popen([str(credsctl), "--count", "2", "--invalidate", "--sleep-ms",
                             "1500"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    assert first["source"] == "container"
    # The platform rotates the token file: the next request must send the new one.
    tok.write_text("tok-B")
    container.config(authorization_token="tok-B")
    out, errs = proc.communicate(timeout=30)
    assert proc.returncode == 0, errs
    assert json.loads(out.splitlines()[0])["source"] == "container"
    assert len(container.get("served")) == 2


def test_container_full_uri_must_be_allowed(credsctl, env):
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://10.1.2.3:8080/creds"
    err = run(credsctl, env).error
    assert "container failed" in err["message"]
    assert "not allowed over http" in err["message"]


def test_imds_v2_flow(credsctl, env, imds):
    imds.config(credentials_to_serve={"AccessKeyId": "ASIAIMDS",
                                      "SecretAccessKey": "imdsSecret", "Token": "imdsTok"})
    env.imds(imds.url)
    out = run(credsctl, env).one
    assert (out["source"], out["access_key_id"], out["token"]) == \
        ("imds:poky-instance-role", "ASIAIMDS", True)
    assert out["secret_sha256"] == sha256("imdsSecret")
    ops = [c["op"] for c in imds.calls()]
    assert ops == ["PutToken", "ListRoles", "GetRoleCredentials"]
    calls = imds.calls()
    assert calls[0]["method"] == "PUT"
    assert calls[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert all("x-aws-ec2-metadata-token" in c["headers"] for c in calls[1:])


def test_imds_never_falls_back_to_v1(credsctl, env, imds):
    imds.config(require_token=False)
    imds.faults("PutToken", {"status": 405})
    env.imds(imds.url)
    err = run(credsctl, env).error
    assert "imds failed" in err["message"] and "IMDSv1 is never used" in err["message"]
    assert [c["op"] for c in imds.calls()] == ["PutToken"]


def test_imds_without_a_role_is_passed_over(credsctl, env, imds):
    imds.config(role_name=None)
    env.imds(imds.url)
    err = run(credsctl, env).error
    assert "imds (no IAM role attached" in err["message"]


def test_imds_disabled_is_not_asked(credsctl, env, imds):
    env.imds(imds.url)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    err = run(credsctl, env).error
    assert "imds (AWS_EC2_METADATA_DISABLED=true)" in err["message"]
    assert imds.calls() == []


# --------------------------------------------------------------------------- chain order

def test_chain_order_env_profile_container_imds(credsctl, env, container, imds):
    env.update(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="envSecretKey")
    env.write("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                             "aws_secret_access_key = fileSecretKey\n")
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.url + "/v2/credentials/poky-task"
    env.imds(imds.url)
    assert run(credsctl, env).one["source"] == "env"
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    assert run(credsctl, env).one["source"] == "profile:default"
    (env.tmp / "credentials").unlink()
    assert run(credsctl, env).one["source"] == "container"
    del env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    assert run(credsctl, env).one["source"] == "imds:poky-instance-role"
    # Each was asked only when everything before it was absent.
    assert len(container.get("served")) == 1
    assert len(imds.get("served")) == 1


def test_error_lists_every_provider_tried(credsctl, env):
    env.imds(CLOSED)
    err = run(credsctl, env).error
    msg = err["message"]
    assert err["error"] == "auth error"
    assert msg.startswith("no AWS credentials: ")
    for part in ["env (no AWS_ACCESS_KEY_ID)",
                 "web-identity (no AWS_WEB_IDENTITY_TOKEN_FILE)",
                 'profile (no profile "default"', "container (", "imds (http://127.0.0.1:1: "]:
        assert part in msg, msg


def test_error_never_holds_a_secret(credsctl, env):
    env.write("credentials", "[default]\naws_secret_access_key = fileSecretKey\n")
    err = run(credsctl, env).error       # run() checks stdout and stderr for secrets
    assert "aws_secret_access_key without aws_access_key_id" in err["message"]


# --------------------------------------------------------------------------- STS

def test_assume_role_with_source_profile_signed(credsctl, env, sts):
    env.write("config", f"[profile dev]\nrole_arn = {ROLE}\nsource_profile = base\n"
                        "role_session_name = poky-test\n")
    env.write("credentials", f"[base]\naws_access_key_id = {AK}\n"
                             f"aws_secret_access_key = {SK}\n")
    out = run(credsctl, env, "--profile", "dev", "--whoami").one
    issued = sts.get("issued")
    assert len(issued) == 1
    assert out["source"] == "assume-role:dev"
    assert out["access_key_id"] == issued[0]["AccessKeyId"]
    assert out["secret_sha256"] == sha256(issued[0]["SecretAccessKey"])
    assert out["token"] is True and out["expiration"] is not None
    assert issued[0]["RoleArn"] == ROLE and issued[0]["RoleSessionName"] == "poky-test"
    call = sts.calls("AssumeRole")[0]
    assert call["signature_ok"] is True, call.get("auth_error")
    assert call["access_key"] == AK
    assert call["headers"]["content-type"] == \
        "application/x-www-form-urlencoded; charset=utf-8"
    # The assumed role's credentials sign the next call, and STS accepts them.
    who = sts.calls("GetCallerIdentity")[0]
    assert who["signature_ok"] is True and who["access_key"] == out["access_key_id"]
    assert "poky-dev" in out["arn"]


def test_assume_role_chained_through_two_profiles(credsctl, env, sts):
    env.write("config", f"[profile top]\nrole_arn = {ROLE}-top\nsource_profile = mid\n"
                        f"[profile mid]\nrole_arn = {ROLE}\nsource_profile = base\n")
    env.write("credentials", f"[base]\naws_access_key_id = {AK}\n"
                             f"aws_secret_access_key = {SK}\n")
    out = run(credsctl, env, "--profile", "top").one
    issued = sts.get("issued")
    assert [i["RoleArn"] for i in issued] == [ROLE, ROLE + "-top"]
    calls = sts.calls("AssumeRole")
    assert all(c["signature_ok"] for c in calls)
    assert calls[1]["access_key"] == issued[0]["AccessKeyId"]
    assert out["access_key_id"] == issued[1]["AccessKeyId"]


def test_assume_role_external_id_and_duration(credsctl, env, sts):
    sts.config(external_id="ext-42", max_session_duration=7200)
    env.write("config", f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n"
                        "duration_seconds = 7200\n")
    env.write("credentials", f"[base]\naws_access_key_id = {AK}\n"
                             f"aws_secret_access_key = {SK}\n")
    err = run(credsctl, env).error
    assert "AccessDenied" in err["message"] and ROLE in err["message"]
    assert err["aws_code"] == "AccessDenied"
    env.write("config", f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n"
                        "duration_seconds = 7200\nexternal_id = ext-42\n")
    assert run(credsctl, env).one["source"] == "assume-role:default"
    params = sts.calls("AssumeRole")[-1]["params"]
    assert params["ExternalId"] == "ext-42" and str(params["DurationSeconds"]) == "7200"


def test_assume_role_with_credential_source_ecs_container(credsctl, env, sts, container):
    env.write("config", f"[default]\nrole_arn = {ROLE}\ncredential_source = EcsContainer\n")
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.url + "/v2/credentials/poky-task"
    out = run(credsctl, env).one
    served = container.get("served")
    call = sts.calls("AssumeRole")[0]
    assert out["source"] == "assume-role:default"
    assert call["signature_ok"] is True
    assert call["access_key"] == served[0]["AccessKeyId"]


def test_web_identity_from_env(credsctl, env, sts):
    tok = env.write("jwt", WEB_TOKEN + "\n")
    env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(tok), AWS_ROLE_ARN=ROLE,
               AWS_ROLE_SESSION_NAME="pod-1")
    out = run(credsctl, env).one
    issued = sts.get("issued")
    assert out["source"] == "web-identity"
    assert out["access_key_id"] == issued[0]["AccessKeyId"]
    assert issued[0]["Action"] == "AssumeRoleWithWebIdentity"
    assert issued[0]["RoleSessionName"] == "pod-1"
    call = sts.calls("AssumeRoleWithWebIdentity")[0]
    assert call["signature_ok"] is None                   # sent unsigned
    assert "authorization" not in call["headers"]


def test_web_identity_bad_token(credsctl, env, sts):
    tok = env.write("jwt", "not-the-token")
    env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(tok), AWS_ROLE_ARN=ROLE)
    err = run(credsctl, env).error
    assert "web-identity failed" in err["message"]
    assert "InvalidIdentityToken" in err["message"]


def test_web_identity_from_profile(credsctl, env, sts):
    tok = env.write("jwt", WEB_TOKEN)
    env.write("config", f"[profile k8s]\nrole_arn = {ROLE}\n"
                        f"web_identity_token_file = {tok}\n")
    env["AWS_PROFILE"] = "k8s"
    out = run(credsctl, env).one
    assert out["source"] == "web-identity:k8s"
    assert sts.get("issued")[0]["Action"] == "AssumeRoleWithWebIdentity"


# --------------------------------------------------------------------------- refresh

def _role_env(env):
    env.write("config", f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n")
    env.write("credentials", f"[base]\naws_access_key_id = {AK}\n"
                             f"aws_secret_access_key = {SK}\n")


def test_long_lived_temporary_creds_are_cached(credsctl, env, sts):
    _role_env(env)
    sts.config(issued_duration_seconds=3600)
    res = run(credsctl, env, "--count", "3")
    assert res.rc == 0, res.stderr
    assert len({x["access_key_id"] for x in res.lines}) == 1
    assert len(sts.get("issued")) == 1


def test_creds_in_advisory_window_are_refreshed(credsctl, env, sts):
    _role_env(env)
    sts.config(issued_duration_seconds=660)       # 11 minutes: inside the 15-minute window
    res = run(credsctl, env, "--count", "2")
    assert res.rc == 0, res.stderr
    issued = sts.get("issued")
    assert len(issued) == 2
    assert [x["access_key_id"] for x in res.lines] == [i["AccessKeyId"] for i in issued]


def test_failed_advisory_refresh_keeps_the_current_creds(credsctl, env, sts):
    _role_env(env)
    sts.config(issued_duration_seconds=660)
    sts.faults("AssumeRole", {"delay": 0},
               {"status": 403, "type": "AccessDenied", "message": "no more"})
    res = run(credsctl, env, "--count", "3")
    assert res.rc == 0, res.stderr
    assert len({x["access_key_id"] for x in res.lines}) == 1
    assert "keeping the current ones" in res.stderr
    # One failed attempt, then a pause before the next: not one per call.
    assert len(sts.calls("AssumeRole")) == 2


def test_expired_creds_with_failing_refresh_are_an_error(credsctl, env, sts):
    _role_env(env)
    sts.config(issued_duration_seconds=-10)       # already expired when issued
    sts.faults("AssumeRole", {"delay": 0},
               {"status": 403, "type": "AccessDenied", "message": "no more"})
    res = run(credsctl, env, "--count", "2")
    assert res.rc == 1
    assert "AccessDenied" in res.lines[-1]["message"]


# --------------------------------------------------------------------------- region

def test_region_order(credsctl, env):
    env.write("config", "[default]\nregion = eu-west-3\n[profile dev]\nregion = sa-east-1\n")
    assert run(credsctl, env, "--region").one == {"region": "us-east-1"}
    del env["AWS_REGION"]
    env["AWS_DEFAULT_REGION"] = "ap-south-1"
    assert run(credsctl, env, "--region").one == {"region": "ap-south-1"}
    del env["AWS_DEFAULT_REGION"]
    assert run(credsctl, env, "--region").one == {"region": "eu-west-3"}
    assert run(credsctl, env, "--region", "--profile", "dev").one == {"region": "sa-east-1"}


# --------------------------------------------------------------------------- SSO (issue 19)

SSO_TOKEN = "poky-sso-access-token"
START_URL = "https://poky-test.awsapps.com/start"


def sso_cache(env, key_source, expires_at, token=SSO_TOKEN):
    """The file "aws sso login" leaves: ~/.aws/sso/cache/<sha1 of the session or URL>.json."""
    d = env.tmp / ".aws" / "sso" / "cache"
    d.mkdir(parents=True, exist_ok=True)
    p = d / (hashlib.sha1(key_source.encode()).hexdigest() + ".json")
    p.write_text(json.dumps({"startUrl": START_URL, "region": "us-east-1",
                             "accessToken": token, "expiresAt": expires_at}))
    return p


def in_an_hour_plus_two():
    """An hour from now, written with a +02:00 offset (the SDKs accept any offset)."""
    t = time.gmtime(time.time() + 3600 + 7200)
    return time.strftime("%Y-%m-%dT%H:%M:%S+02:00", t)


SESSION_CONFIG = """[profile dev]
sso_session = my-sso
sso_account_id = 123456789012
sso_role_name = PokyDev
region = us-east-1

[sso-session my-sso]
sso_start_url = %s
sso_region = us-east-1
sso_registration_scopes = sso:account:access
""" % START_URL


def check_sso_call(sso):
    calls = sso.calls("GetRoleCredentials")
    assert calls, "no GetRoleCredentials call"
    for c in calls:
        assert c["model_errors"] == [], c["model_errors"]
        assert c["status"] == 200
        assert "authorization" not in c["headers"]
        assert c["headers"]["user-agent"].startswith("poky/")
    return calls


def test_sso_session_profile(credsctl, env, sso):
    env.write("config", SESSION_CONFIG)
    sso_cache(env, "my-sso", in_an_hour_plus_two())
    env["AWS_PROFILE"] = "dev"
    env["AWS_ENDPOINT_URL_SSO"] = sso.url
    out = run(credsctl, env).one
    assert out["source"] == "sso:dev"
    assert out["access_key_id"] == "ASIASSOPOKY000000001" and out["token"] is True
    assert out["secret_sha256"] == sha256("ssoSecretKey/0123456789+abcdefghijklmn")
    calls = check_sso_call(sso)
    assert calls[0]["query"] == {"role_name": ["PokyDev"], "account_id": ["123456789012"]}


def test_sso_legacy_profile_uses_the_start_url_as_cache_key(credsctl, env, sso):
    env.write("config", """[profile old]
sso_start_url = %s
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = PokyDev
""" % START_URL)
    sso_cache(env, START_URL, "2099-01-01T00:00:00Z")
    env["AWS_PROFILE"] = "old"
    env["AWS_ENDPOINT_URL_SSO"] = sso.url
    assert run(credsctl, env).one["source"] == "sso:old"
    check_sso_call(sso)


def test_sso_expired_token_says_to_log_in(credsctl, env, sso):
    env.write("config", SESSION_CONFIG)
    sso_cache(env, "my-sso", "2020-01-01T00:00:00+02:00")
    env["AWS_PROFILE"] = "dev"
    env["AWS_ENDPOINT_URL_SSO"] = sso.url
    err = run(credsctl, env).error
    assert "aws sso login" in json.dumps(err)
    assert sso.calls("GetRoleCredentials") == []


def test_sso_without_cached_token_says_to_log_in(credsctl, env, sso):
    env.write("config", SESSION_CONFIG)
    env["AWS_PROFILE"] = "dev"
    env["AWS_ENDPOINT_URL_SSO"] = sso.url
    err = json.dumps(run(credsctl, env).error)
    assert "aws sso login --sso-session my-sso" in err


def test_sso_portal_refusal_is_an_error(credsctl, env, sso):
    env.write("config", SESSION_CONFIG)
    sso_cache(env, "my-sso", in_an_hour_plus_two(), token="a-stale-token")
    env["AWS_PROFILE"] = "dev"
    env["AWS_ENDPOINT_URL_SSO"] = sso.url
    err = json.dumps(run(credsctl, env).error)
    assert "UnauthorizedException" in err and "a-stale-token" not in err


def test_sso_credentials_are_refreshed(credsctl, env, sso):
    env.write("config", SESSION_CONFIG)
    sso_cache(env, "my-sso", in_an_hour_plus_two())
    env["AWS_PROFILE"] = "dev"
    env["AWS_ENDPOINT_URL_SSO"] = sso.url
    res = run(credsctl, env, "--count", "2", "--invalidate")
    assert res.rc == 0, res.stderr
    assert [x["source"] for x in res.lines] == ["sso:dev", "sso:dev"]
    assert len(check_sso_call(sso)) == 2


def test_fake_sso_judges_requests_by_the_botocore_model(sso):
    """The judge can fail: a signed-looking request without account_id breaks the model."""
    req = urllib.request.Request(sso.url + "/federation/credentials?role_name=PokyDev&x=1",
                                 headers={"Authorization": "AWS4-HMAC-SHA256 x"})
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400
    errs = sso.calls("GetRoleCredentials")[0]["model_errors"]
    assert any("account_id" in x for x in errs)
    assert any("x-amz-sso_bearer_token" in x for x in errs)
    assert any("query x" in x for x in errs)
    assert any("Authorization" in x for x in errs)
