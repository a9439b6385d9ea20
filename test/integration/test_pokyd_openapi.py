"""src/daemon/openapi.json: lint-clean for @redocly/cli (from npm: test/npm-tools.sh installs it
into test/node_modules; npx is the fallback), every route of pokyd's table documented and
nothing more, and every schema valid JSON Schema 2020-12.  (Every answer the other tests get
is validated against this document by pokyd.Client.)
"""
import json
import os
import re
import shutil
import subprocess

import pytest
from jsonschema import Draft202012Validator

pytest.register_assert_rewrite("pokyd")
from pokyd import OPENAPI_PATH, ROOT, load_openapi  # noqa: E402

REDOCLY_VERSION = "2.77.0"          # known good with Debian 12's Node 20


def redocly_command():
    local = ROOT / "test" / "node_modules" / ".bin" / "redocly"
    if local.exists():
        return [str(local)]
    if shutil.which("npx"):
        return ["npx", "--yes", "@redocly/cli@" + REDOCLY_VERSION]
    return None


def test_redocly_lint_passes(tmp_path):
    cmd = redocly_command()
    if cmd is None:
        pytest.fail("no npx and no test/node_modules: run test/npm-tools.sh")
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
               NO_COLOR="1", HOME=str(tmp_path))
    # src/daemon/redocly.yaml: the recommended rules, with the exceptions of the ignore
    # file beside it (the console's /ui/).
    p = subprocess.run(cmd + ["lint", str(OPENAPI_PATH), "--format", "stylish", "--config",
                              str(OPENAPI_PATH.parent / "redocly.yaml")],
                       capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=240)
    out = p.stdout + p.stderr
    assert p.returncode == 0, "redocly lint failed:\n" + out
    assert "valid" in out.lower(), out


def routes_in_source():
    """The route table of src/daemon/api.c: {(method, pattern)}."""
    text = (ROOT / "src" / "daemon" / "api.c").read_text()
    table = text[text.index("const struct api_route api_routes[] = {"):]
    table = table[:table.index("};")]
    # { METHOD, PATTERN, handler, open, scopes }
    return set(re.findall(r'\{ "([A-Z]+)", "([^"]+)", \w+, (?:true|false),[^}]*\}', table))


def test_every_route_is_documented_and_nothing_else():
    doc = load_openapi().doc
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item
                  if m in ("get", "post", "put", "delete", "patch")}
    served = routes_in_source()
    assert len(served) >= 12
    assert documented == served


def test_open_routes_need_no_security():
    doc = load_openapi().doc
    text = (ROOT / "src" / "daemon" / "api.c").read_text()
    open_routes = set(re.findall(r'\{ "([A-Z]+)", "([^"]+)", \w+, true,[^}]*\}', text))
    for path, item in doc["paths"].items():
        for method, op in item.items():
            is_open = (method.upper(), path) in open_routes
            assert (op.get("security") == []) == is_open, (method, path)
            if not is_open:
                assert "401" in op["responses"], (method, path)


def test_schemas_are_valid_json_schema():
    doc = load_openapi().doc
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


def test_document_parts_named_by_the_contract():
    doc = load_openapi().doc
    assert doc["openapi"] == "3.1.0"
    comps = doc["components"]
    assert comps["securitySchemes"]["bearerAuth"] == {
        **comps["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    problem = comps["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["errors"]["items"]["$ref"] == "#/components/schemas/FieldError"
    for h in ("Location", "RetryAfter", "XRequestId"):
        assert h in comps["headers"]
    assert comps["parameters"]["IdempotencyKey"]["in"] == "header"
    pf = doc["paths"]["/process_file"]["post"]["requestBody"]["content"]
    assert set(pf) == {"application/x-www-form-urlencoded", "application/json"}
    task = comps["schemas"]["Task"]["properties"]
    for field in ("id", "template", "status", "parameters", "created_at", "updated_at",
                  "started_at", "finished_at", "exit_code", "reason", "ecs"):
        assert field in task
    assert set(comps["schemas"]["EcsDetail"]["properties"]) >= {
        "task_arn", "cluster", "last_status", "stop_code", "stopped_reason"}


def test_document_examples_match_their_schemas():
    api = load_openapi()

    def walk(node):
        if isinstance(node, dict):
            if "examples" in node and isinstance(node["examples"], list) and "type" in node:
                for ex in node["examples"]:
                    api.validate(ex, node, "example")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(api.doc)


def test_document_is_plain_utf8_json():
    raw = OPENAPI_PATH.read_bytes()
    raw.decode("utf-8")
    assert b"\0" not in raw             # it is compiled in as a NUL-terminated string
    json.loads(raw)
