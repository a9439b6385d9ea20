"""pokyd's command line and configuration checks: -t, --version, --help, --print-iam-policy,
--hash-token, bad configurations (exit 1 naming file, section and key), and the refusal to
listen on a public address with no tokens.
"""
import hashlib
import json
import pathlib
import subprocess

import pytest

pytest.register_assert_rewrite("pokyd")
from pokyd import (config_sections, ecs_template, hash_token_line,  # noqa: E402
                   local_template, pokyd_env, render_ini, sanitizer_report)

pytest_plugins = ["pokyd"]      # fixtures: fake_ecs, fake_s3, pokyd_factory, openapi ...

VERSION = (pathlib.Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()


@pytest.fixture
def run(bindir, tmp_path):
    """run(args, config=sections|text|None, stdin=None) -> CompletedProcess (text)."""
    home = tmp_path / "home"
    home.mkdir()
    env = pokyd_env(home, "http://127.0.0.1:9")

    def _run(args, config=None, stdin=None, timeout=30):
        argv = [str(bindir / "pokyd")]
        if config is not None:
            path = tmp_path / "pokyd.ini"
            path.write_text(config if isinstance(config, str) else render_ini(config))
            argv += ["-c", str(path)]
        p = subprocess.run(argv + list(args), input=stdin, capture_output=True, text=True,
                           env=env, cwd=str(tmp_path), timeout=timeout)
        report = sanitizer_report(p.stderr)
        assert report is None, report
        return p
    _run.config_path = tmp_path / "pokyd.ini"
    _run.state = tmp_path / "state"
    return _run


def good(run, **templates):
    return config_sections(run.state, templates or {"t": local_template("/bin/true")})


def test_t_checks_and_prints_configuration_ok(run):
    p = run(["-t"], good(run))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "configuration OK\n"
    assert not run.state.exists()          # a check creates nothing


def test_version_and_help(run):
    p = run(["--version"])
    assert p.returncode == 0 and p.stdout == "pokyd %s\n" % VERSION
    p = run(["--help"])
    assert p.returncode == 0
    for word in ("usage: pokyd", "-c, --config", "--print-iam-policy", "--hash-token",
                 "--listen", "SIGHUP"):
        assert word in p.stdout
    p = run(["-h"])
    assert p.returncode == 0 and p.stdout.startswith("usage: pokyd")


def test_unknown_option_and_stray_argument_are_usage_errors(run):
    p = run(["--frobnicate"])
    assert p.returncode == 2 and "usage: pokyd" in p.stderr
    p = run(["-t", "extra"], good(run))
    assert p.returncode == 2 and "unexpected argument 'extra'" in p.stderr


def test_missing_config_file_is_named(run, tmp_path):
    p = run(["-c", str(tmp_path / "nope.ini"), "-t"])
    assert p.returncode == 1
    assert str(tmp_path / "nope.ini") in p.stderr and "No such file" in p.stderr


BAD = [
    # (section, key, value, message): the key is set in section of a good config.
    ("server", "bogus", "1", "[server] bogus: unknown key"),
    ("server", "threads", "many", "[server] threads: 'many' is not a whole number in 1..256"),
    ("server", "threads", "0", "[server] threads: '0' is not a whole number in 1..256"),
    ("server", "max_body_bytes", "10", "[server] max_body_bytes: '10' is not a whole number"),
    ("server", "allow_anonymous", "maybe", "[server] allow_anonymous: 'maybe' is not true or "
                                           "false"),
    ("server", "listen", "nowhere", "[server] listen: 'nowhere' is not host:port"),
    ("server", "listen", "127.0.0.1:70000", "[server] listen: '127.0.0.1:70000' has no port"),
    ("server", "log_level", "loud", "[server] log_level: 'loud' is not debug, info, warn or "
                                    "error"),
    ("server", "log_format", "xml", "[server] log_format: 'xml' is not text or json"),
    ("aws", "max_attempts", "99", "[aws] max_attempts: '99' is not a whole number in 1..10"),
    ("aws", "endpoint_url", "ftp://x", "[aws] endpoint_url: 'ftp://x' must start with http://"),
    ("aws", "regoin", "us-east-1", "[aws] regoin: unknown key"),
    ("tracker", "poll_interval", "0", "[tracker] poll_interval: '0' is not a number of seconds"),
    ("tracker", "poll_interval", "fast", "[tracker] poll_interval: 'fast' is not a number"),
    ("template.t", "launcher", "lambda", "[template.t] launcher: 'lambda' is not ecs, local "
                                         "or docker"),
    ("template.t", "comand", "/bin/true", "[template.t] comand: unknown key"),
    ("template.t", "max_running", "0", "[template.t] max_running: '0' is not a whole number"),
    ("template.t", "timeout", "-1", "[template.t] timeout: '-1' is not a whole number"),
    ("template.t", "param.x", "sometimes env=X", "[template.t] param.x: must start with "
                                                 "required or optional"),
    ("template.t", "param.x", "required", "[template.t] param.x: needs env=VARIABLE"),
    ("template.t", "param.x", "required env=1X", "[template.t] param.x: env '1X' is not a "
                                                 "variable name"),
    ("template.t", "param.x", "required env=X max=0", "[template.t] param.x: max '0' is not "
                                                      "1..65536"),
    ("template.t", "param.x", "required env=X pattern=([", "[template.t] param.x: pattern '([':"),
    ("template.t", "param.x", "required env=X s3=object:nope", "[template.t] param.x: "
                                                               "s3=object:nope names no "
                                                               "parameter"),
    ("template.t", "param.x", "required env=X colour=red", "[template.t] param.x: unknown "
                                                           "attribute 'colour'"),
    ("template.t", "param.x", "optional env=X default=abc pattern=^[0-9]+$",
     "[template.t] param.x: default does not match its pattern"),
    ("template.t", "env.1BAD", "v", "[template.t] env.1bad: not an environment variable name"),
    ("template.t", "assign_public_ip", "YES", "[template.t] assign_public_ip: 'YES' is not "
                                              "ENABLED or DISABLED"),
]


@pytest.mark.parametrize("section,key,value,message", BAD,
                         ids=["%s-%s-%s" % (s, k, v) for s, k, v, _ in BAD])
def test_bad_config_exits_1_naming_file_section_and_key(run, section, key, value, message):
    sections = good(run)
    sections.setdefault(section, {})[key] = value
    p = run(["-t"], sections)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith("pokyd: %s: " % run.config_path), p.stderr
    assert message in p.stderr, p.stderr


@pytest.mark.parametrize("text,message", [
    ("[server]\nlisten = 127.0.0.1:0\n[nope]\nx = 1\n[template.t]\nlauncher = local\n"
     "command = /bin/true\n", "[nope]: unknown section"),
    ("[server]\nlisten = 127.0.0.1:0\n", "no [template.NAME] section"),
    ("[template.t]\nlauncher = ecs\ncluster = c\n", "[template.t]: launcher ecs needs cluster, "
                                                   "task_definition and container"),
    ("[template.t]\nlauncher = local\n", "[template.t] command: launcher local needs a "
                                         "command"),
    ("[template.t]\nlauncher = docker\n", "[template.t] image: launcher docker needs an image"),
    ("[template.bad name]\nlauncher = local\ncommand = /bin/true\n",
     "template names are 1-64 letters"),
    ("[template.t]\nlaunch_type = FARGATE\ncapacity_providers = FARGATE_SPOT\ncluster = c\n"
     "task_definition = d\ncontainer = x\n",
     "[template.t] capacity_providers: launch_type and capacity_providers are exclusive"),
], ids=["unknown-section", "no-template", "ecs-incomplete", "local-no-command",
        "docker-no-image", "bad-template-name", "exclusive"])
def test_bad_config_structure(run, text, message):
    p = run(["-t"], text)
    assert p.returncode == 1, p.stdout
    assert p.stderr.startswith("pokyd: %s" % run.config_path)
    assert message in p.stderr, p.stderr


def test_refuses_a_public_address_without_tokens(run, tmp_path):
    sections = good(run)
    sections["server"]["listen"] = "0.0.0.0:0"
    p = run(["-t"], sections)
    assert p.returncode == 1
    assert "0.0.0.0:0 with no tokens would let anyone start tasks" in p.stderr
    assert str(run.config_path) in p.stderr
    # Not only the check: the daemon itself will not start.
    p = run([], sections)
    assert p.returncode == 1 and "no tokens" in p.stderr
    assert len(p.stderr.splitlines()) == 1          # nothing was started
    # The --listen override is judged the same way.
    p = run(["-t", "--listen", "0.0.0.0:0"], good(run))
    assert p.returncode == 1 and "no tokens" in p.stderr
    p = run(["-t", "--listen", "[::]:0"], good(run))
    assert p.returncode == 1 and "no tokens" in p.stderr
    # Loopback needs no token.
    for listen in ("127.0.0.1:0", "[::1]:0", "localhost:0", "127.1.2.3:0"):
        p = run(["-t", "--listen", listen], good(run))
        assert p.returncode == 0, (listen, p.stderr)
    sections["server"]["allow_anonymous"] = "true"
    assert run(["-t"], sections).returncode == 0
    tokens = tmp_path / "tokens"
    tokens.write_text(hash_token_line("ops", "ops-token-0123456789") + "\n")
    sections["server"]["allow_anonymous"] = "false"
    sections["server"]["tokens_file"] = str(tokens)
    assert run(["-t"], sections).returncode == 0


def test_public_address_serves_with_allow_anonymous(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")},
                          server={"listen": "0.0.0.0:0", "allow_anonymous": True})
    assert "listening on 0.0.0.0:%d" % d.port in d.log()
    assert d.client().get("/templates").status == 200


def test_public_address_serves_with_tokens(pokyd_factory):
    d = pokyd_factory.new({"t": local_template("/bin/true")}, server={"listen": "0.0.0.0:0"},
                          tokens={"ops": "ops-token-0123456789"})
    assert d.client().get("/templates").status == 401
    assert d.client(token="ops-token-0123456789").get("/templates").status == 200


@pytest.mark.parametrize("content,message", [
    ("alice not-a-hash\n", ":1: want 'NAME SHA256HEX'"),
    ("# comment\n\nbad!name " + "0" * 64 + "\n", ":3: token name must be"),
    # a third field is a scope (issue 18): an unknown word is refused, never echoed
    ("alice " + "0" * 64 + " trailing\n", ":1: unknown scope"),
], ids=["not-hex", "bad-name", "trailing"])
def test_bad_tokens_file_names_the_line(run, tmp_path, content, message):
    tokens = tmp_path / "tokens"
    tokens.write_text(content)
    sections = good(run)
    sections["server"]["tokens_file"] = str(tokens)
    p = run(["-t"], sections)
    assert p.returncode == 1
    assert str(tokens) + message in p.stderr, p.stderr
    assert "not-a-hash" not in p.stderr          # never echo what might be a token


def test_print_iam_policy(run):
    templates = {
        "job": ecs_template(task_role_arn="arn:aws:iam::123456789012:role/poky-task",
                            execution_role_arn="arn:aws:iam::123456789012:role/poky-exec",
                            **{"param.source_bucket": "required env=SOURCE_BUCKET s3=bucket "
                                                     "pattern=^(in|my\\.archive|a.b)$"}),
        "other": ecs_template(task_definition="arn:aws:ecs:us-east-1:123456789012:"
                                              "task-definition/other:7", cluster="batch",
                              task_role_arn="arn:aws:iam::123456789012:role/poky-task",
                              execution_role_arn="arn:aws:iam::123456789012:role/poky-exec"),
        "here": local_template("/bin/true"),
    }
    p = run(["--print-iam-policy"], config_sections(run.state, templates))
    assert p.returncode == 0, p.stderr
    policy = json.loads(p.stdout)
    assert policy["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    # One RunTask statement per cluster: a task definition runs only where its template does.
    assert by_sid["PokyRunTask1"]["Action"] == ["ecs:RunTask"]
    assert by_sid["PokyRunTask1"]["Resource"] == [
        "arn:aws:ecs:us-east-1:*:task-definition/poky-task-definition:4"]
    assert by_sid["PokyRunTask1"]["Condition"] == {
        "ArnLike": {"ecs:cluster": ["arn:aws:ecs:us-east-1:*:cluster/poky-cluster"]}}
    assert by_sid["PokyRunTask2"]["Resource"] == [
        "arn:aws:ecs:us-east-1:123456789012:task-definition/other:7"]
    assert by_sid["PokyRunTask2"]["Condition"] == {
        "ArnLike": {"ecs:cluster": ["arn:aws:ecs:us-east-1:*:cluster/batch"]}}
    tag = by_sid["PokyTagNewTasks"]
    assert tag["Action"] == ["ecs:TagResource"]
    assert tag["Condition"] == {"StringEquals": {"ecs:CreateAction": ["RunTask"]}}
    tasks = ["arn:aws:ecs:us-east-1:*:task/poky-cluster/*", "arn:aws:ecs:us-east-1:*:task/batch/*"]
    assert tag["Resource"] == tasks
    track = by_sid["PokyTrackTasks"]
    assert track["Action"] == ["ecs:DescribeTasks", "ecs:StopTask"]
    assert track["Resource"] == tasks
    assert by_sid["PokyPassTaskRoles"]["Action"] == ["iam:PassRole"]
    assert by_sid["PokyPassTaskRoles"]["Resource"] == [
        "arn:aws:iam::123456789012:role/poky-task", "arn:aws:iam::123456789012:role/poky-exec"]
    assert by_sid["PokyPassTaskRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}}
    # A bucket pattern that lists names narrows the checks to them ('.' is any one character).
    assert by_sid["PokyCheckBuckets"] == {
        "Sid": "PokyCheckBuckets", "Effect": "Allow", "Action": ["s3:ListBucket"],
        "Resource": ["arn:aws:s3:::in", "arn:aws:s3:::my.archive", "arn:aws:s3:::a?b"]}
    assert "PokyCheckObjects" not in by_sid


def test_print_iam_policy_any_bucket_and_the_task_definitions_roles(run):
    templates = {"job": ecs_template(task_definition="poky-task-definition", **{
        "param.source_bucket": "required env=SOURCE_BUCKET s3=bucket pattern=^in|out$",
        "param.source_key": "required env=SOURCE_KEY s3=object:source_bucket"}),
        "box": {"launcher": "docker", "image": "poky-worker:latest",
                "param.b": "required env=B s3=bucket pattern=^(x|y)$"}}
    p = run(["--print-iam-policy"], config_sections(run.state, templates))
    assert p.returncode == 0, p.stderr
    by_sid = {s["Sid"]: s for s in json.loads(p.stdout)["Statement"]}
    assert by_sid["PokyRunTask"]["Resource"] == [
        "arn:aws:ecs:us-east-1:*:task-definition/poky-task-definition:*"]
    # No role in the template: RunTask passes the task definition's, unknown here.
    assert by_sid["PokyPassTaskRoles"]["Resource"] == ["*"]
    # ^in|out$ is (^in)|(out$): any bucket.  The docker template's checks ask S3 too.
    assert by_sid["PokyCheckBuckets"]["Resource"] == ["arn:aws:s3:::*"]
    assert by_sid["PokyCheckObjects"]["Resource"] == ["arn:aws:s3:::*/*"]


def test_print_iam_policy_needs_no_tokens_file(run):
    sections = config_sections(run.state, {"job": ecs_template()})
    sections["server"]["tokens_file"] = str(run.state / "missing-tokens")
    p = run(["--print-iam-policy"], sections)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Statement"]


def test_print_iam_policy_without_ecs_templates(run):
    p = run(["--print-iam-policy"], good(run))
    assert p.returncode == 0 and p.stdout == ""
    assert "no template calls AWS" in p.stderr


def test_hash_token(run):
    token = "s3cret-token-0123456789"
    p = run(["--hash-token", "alice"], stdin=token + "\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "alice %s\n" % hashlib.sha256(token.encode()).hexdigest()
    p = run(["--hash-token=bob"], stdin=token)
    assert p.stdout == "bob %s\n" % hashlib.sha256(token.encode()).hexdigest()
    p = run(["--hash-token"], stdin=token + "\r\n")
    assert p.stdout == "token %s\n" % hashlib.sha256(token.encode()).hexdigest()
    assert token not in p.stdout + p.stderr


@pytest.mark.parametrize("name,token,message", [
    ("alice", "short", "a token must be 16.."),
    ("alice", "has space in the token", "printable ASCII without spaces"),
    ("bad name!", "s3cret-token-0123456789", "token name must be"),
    ("alice", "", "a token must be 16.."),
], ids=["short", "space", "bad-name", "empty"])
def test_hash_token_refuses_weak_input(run, name, token, message):
    p = run(["--hash-token", name], stdin=token + "\n")
    assert p.returncode == 2
    assert message in p.stderr and p.stdout == ""


def test_hash_token_without_stdin(run):
    p = run(["--hash-token", "alice"], stdin="")
    assert p.returncode == 2 and "no token on stdin" in p.stderr


def test_hash_token_line_authenticates(run, pokyd_factory, tmp_path):
    token = "made-by-hash-token-0123456789"
    line = run(["--hash-token", "carol"], stdin=token + "\n").stdout
    tokens = tmp_path / "carol.tokens"
    tokens.write_text(line)
    d = pokyd_factory.new({"t": local_template("/bin/true")},
                          server={"tokens_file": str(tokens)})
    r = d.client(token=token).post("/tasks", {"template": "t"})
    assert r.status == 202, r
    d.wait_log(r"POST /tasks 202 [0-9]+B [0-9.]+ms 127\.0\.0\.1 \"[^\"]*\" carol")
