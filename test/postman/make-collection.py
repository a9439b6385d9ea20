#!/usr/bin/python3
"""Writes poky.postman_collection.json and poky.postman_environment.json beside this file.

The collection is generated so that the helpers every request's test script needs (the task
record's shape, the problem+json checks, the poll loop) are written once here, while each
request in Postman still carries a complete, self-contained script. Edit this file, then run

    test/postman/make-collection.py            # rewrites the two JSON files
    test/postman/make-collection.py DIR        # writes them into DIR instead

test/integration/test_postman.py fails when the JSON files differ from what this writes.
Ids are uuid5 of the names, so the output is the same on every run.
"""
import json
import pathlib
import sys
import textwrap
import uuid

OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent
NS = uuid.UUID("6f1f6d2e-2b0c-4f43-9a55-7f0c1e3b9a10")


def lines(js):
    return textwrap.dedent(js).strip("\n").split("\n")


def script(kind, js, name):
    return {"listen": kind, "script": {"id": str(uuid.uuid5(NS, name + "/" + kind)),
                                       "type": "text/javascript", "exec": lines(js)}}


# ------------------------------------------------------------------ shared JavaScript

ISO = r"const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;"
UUID_RX = r"const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;"

RECORD_FN = "\n" + ISO + "\n" + UUID_RX + r"""
const STATUSES = ['queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled', 'lost'];
// The task record of README "The HTTP API" (GET /tasks/{id}).
function expectTaskRecord(rec) {
    pm.expect(rec, 'task record').to.be.an('object');
    pm.expect(rec).to.include.all.keys('id', 'template', 'status', 'launcher', 'parameters',
        'created_at', 'updated_at', 'started_at', 'finished_at', 'exit_code', 'reason',
        'timeout_seconds');
    pm.expect(rec.id, 'id').to.match(UUID);
    pm.expect(rec.template, 'template').to.be.a('string').and.not.empty;
    pm.expect(STATUSES, 'status').to.include(rec.status);
    pm.expect(['ecs', 'local', 'docker'], 'launcher').to.include(rec.launcher);
    pm.expect(rec.parameters, 'parameters').to.be.an('object');
    pm.expect(rec.created_at, 'created_at').to.match(ISO);
    pm.expect(rec.updated_at, 'updated_at').to.match(ISO);
    ['started_at', 'finished_at'].forEach(function (k) {
        if (rec[k] !== null) pm.expect(rec[k], k).to.match(ISO);
    });
    if (rec.exit_code !== null) pm.expect(rec.exit_code, 'exit_code').to.be.a('number');
    if (rec.reason !== null) pm.expect(rec.reason, 'reason').to.be.a('string');
    if (rec.timeout_seconds !== null) pm.expect(rec.timeout_seconds, 'timeout_seconds').to.be.a('number');
    if (rec.launcher === 'local') {
        pm.expect(rec.local, 'local').to.be.an('object').that.has.all.keys('pid', 'log');
        pm.expect(rec.local.log, 'local.log').to.eql('/tasks/' + rec.id + '/logs');
    }
    if (rec.launcher === 'ecs') {
        pm.expect(rec.ecs, 'ecs').to.be.an('object').that.includes.all.keys('task_arn',
            'cluster', 'last_status', 'stop_code', 'stopped_reason');
    }
}"""

PROBLEM_FN = r"""
// An RFC 9457 problem: status code, media type and the members pokyd always sends.
function expectProblem(status, type) {
    pm.response.to.have.status(status);
    pm.expect(pm.response.headers.get('Content-Type'), 'Content-Type')
        .to.match(/^application\/problem\+json/);
    const p = pm.response.json();
    pm.expect(p.status, 'problem.status').to.eql(status);
    pm.expect(p.title, 'problem.title').to.be.a('string').and.not.empty;
    pm.expect(p.detail, 'problem.detail').to.be.a('string');
    if (type) pm.expect(p.type, 'problem.type').to.eql(type);
    return p;
}
// The fields a validation problem names, in its errors[].
function errorFields(p) {
    pm.expect(p.errors, 'problem.errors').to.be.an('array').that.is.not.empty;
    return p.errors.map(function (e) { return e.field; });
}"""

JSON_CT = r"""
pm.test('Content-Type is application/json', function () {
    pm.expect(pm.response.headers.get('Content-Type')).to.match(/^application\/json/);
});"""

SET_NEXT = r"""
// Ask again: the runner repeats this request (Postman's collection runner and newman;
// a single Send in the app ignores it).
function again() {
    if (pm.execution && typeof pm.execution.setNextRequest === 'function')
        pm.execution.setNextRequest(pm.info.requestName);
    else
        postman.setNextRequest(pm.info.requestName);
}"""

POLL_PRE = r"""
// Polls after the first wait pollDelayMs (the sandbox finishes once its timers have run).
const polls = Number(pm.collectionVariables.get('pollCount') || 0);
if (polls > 0) {
    setTimeout(function () {}, Number(pm.variables.get('pollDelayMs') || 250));
}"""


def poll_test(final_checks):
    """A GET /tasks/{id} that repeats itself (at most pollAttempts times) until the task
    reaches a final status, then runs final_checks with `rec`."""
    return RECORD_FN + SET_NEXT + r"""
const FINAL = ['succeeded', 'failed', 'cancelled', 'lost'];
const max = Number(pm.variables.get('pollAttempts') || 60);
const n = Number(pm.collectionVariables.get('pollCount') || 0) + 1;
pm.test('200 while polling', function () { pm.response.to.have.status(200); });
const rec = pm.response.json();
if (FINAL.indexOf(rec.status) < 0 && n < max) {
    pm.collectionVariables.set('pollCount', n);
    again();
} else {
    pm.collectionVariables.set('pollCount', 0);
    pm.test('reached a final status within ' + max + ' polls', function () {
        pm.expect(FINAL, 'status after ' + n + ' polls').to.include(rec.status);
    });
    pm.test('the final record has the documented shape', function () {
        expectTaskRecord(rec);
        pm.expect(rec.finished_at, 'finished_at').to.match(ISO);
        pm.expect(Date.parse(rec.finished_at)).to.be.at.least(Date.parse(rec.created_at));
    });
""" + textwrap.indent(textwrap.dedent(final_checks).strip("\n"), "    ") + "\n}"


# ------------------------------------------------------------------ requests

def url(path, query=None):
    segs = [s for s in path.split("/") if s]
    if path.endswith("/") and len(path) > 1:
        segs.append("")             # Postman keeps a trailing slash as an empty segment
    raw = "{{baseUrl}}/" + "/".join(segs)
    u = {"raw": raw, "host": ["{{baseUrl}}"], "path": segs}
    if query:
        u["query"] = [{"key": k, "value": v} for k, v in query]
        u["raw"] += "?" + "&".join("%s=%s" % (k, v) for k, v in query)
    return u


def req(name, method, path, *, tests, query=None, headers=None, body=None, form=None,
        auth=None, pre=None, desc=None):
    hdrs = []
    if body is not None:
        hdrs.append({"key": "Content-Type", "value": "application/json"})
    if form is not None:
        hdrs.append({"key": "Content-Type", "value": "application/x-www-form-urlencoded"})
    for k, v in (headers or []):
        hdrs = [h for h in hdrs if h["key"].lower() != k.lower()]
        hdrs.append({"key": k, "value": v})
    r = {"method": method, "header": hdrs, "url": url(path, query)}
    if desc:
        r["description"] = desc
    if body is not None:
        r["body"] = {"mode": "raw", "raw": body, "options": {"raw": {"language": "json"}}}
    if form is not None:
        r["body"] = {"mode": "urlencoded",
                     "urlencoded": [{"key": k, "value": v, "type": "text"} for k, v in form]}
    if auth == "none":
        r["auth"] = {"type": "noauth"}
    elif auth is not None:
        r["auth"] = {"type": "bearer",
                     "bearer": [{"key": "token", "value": auth, "type": "string"}]}
    item = {"id": str(uuid.uuid5(NS, name)), "name": name, "event": [], "request": r,
            "response": []}
    if pre:
        item["event"].append(script("prerequest", pre, name))
    item["event"].append(script("test", tests, name))
    return item


def example(item, name, code, status, body, headers=()):
    """A saved response: what Postman shows in its documentation and serves from a mock."""
    r = item["request"]
    hdrs = [{"key": "Content-Type", "value": "application/json"}]
    hdrs += [{"key": k, "value": v} for k, v in headers]
    item["response"].append({
        "id": str(uuid.uuid5(NS, item["name"] + "/example/" + name)), "name": name,
        "originalRequest": {k: r[k] for k in ("method", "header", "body", "url") if k in r},
        "status": status, "code": code, "_postman_previewlanguage": "json",
        "header": hdrs, "cookie": [], "body": json.dumps(body, indent=4)})
    return item


def folder(name, desc, items, auth=None):
    f = {"id": str(uuid.uuid5(NS, "folder/" + name)), "name": name, "description": desc,
         "item": items}
    if auth == "none":
        f["auth"] = {"type": "noauth"}
    return f


def js_body(obj):
    return json.dumps(obj, indent=4)


TASK_BODY = js_body({
    "template": "process_file",
    "parameters": {"source_bucket": "{{sourceBucket}}", "source_key": "{{sourceKey}}",
                   "output_bucket": "{{outputBucket}}"},
    "timeout_seconds": 300,
})
TASK_BODY_OTHER = js_body({
    "template": "process_file",
    "parameters": {"source_bucket": "{{sourceBucket}}", "source_key": "{{sourceKey}}",
                   "output_bucket": "{{outputBucket}}", "output_key": "postman-other.txt"},
    "timeout_seconds": 300,
})
PARAMS_ECHO = r"""
const expected = {
    source_bucket: pm.variables.get('sourceBucket'),
    source_key: pm.variables.get('sourceKey'),
    output_bucket: pm.variables.get('outputBucket'),
    delete_source: 'false'
};"""

# ---- Health and documents -----------------------------------------------------------------

health = folder("Health and documents", "Liveness and readiness need no token (this folder sends none); "
                "`/metrics` and `/openapi.json` need one like every other route.", [
    req("Liveness", "GET", "/healthz", auth="none",
        desc="`GET /healthz`: 200 while pokyd serves HTTP; always open.",
        tests=JSON_CT + r"""
pm.test('200 without a token', function () { pm.response.to.have.status(200); });
pm.test('body is {"status": "ok"}', function () {
    pm.expect(pm.response.json()).to.eql({ status: 'ok' });
});"""),
    req("Liveness keeps a tame X-Request-Id", "GET", "/healthz", auth="none",
        headers=[("X-Request-Id", "postman-tame.id:1")],
        desc="A client's `X-Request-Id` comes back when it is tame (1-64 of `A-Za-z0-9-_.:`).",
        tests=r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('the tame X-Request-Id is echoed', function () {
    pm.expect(pm.response.headers.get('X-Request-Id')).to.eql('postman-tame.id:1');
});"""),
    req("Liveness replaces a wild X-Request-Id", "GET", "/healthz", auth="none",
        headers=[("X-Request-Id", "not tame/<id>")],
        desc="An `X-Request-Id` that is not tame is replaced by a new one.",
        tests=r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('a new X-Request-Id replaces the wild one', function () {
    const id = pm.response.headers.get('X-Request-Id');
    pm.expect(id).to.be.a('string').and.not.empty;
    pm.expect(id).to.not.eql('not tame/<id>');
    pm.expect(id).to.match(/^[A-Za-z0-9._:-]{1,64}$/);
});"""),
    req("Readiness", "GET", "/readyz", auth="none",
        desc="`GET /readyz`: 200 when the store is writable, the configuration loaded and (with an "
             "ECS template) AWS credentials resolvable; 503 otherwise. Always open.",
        tests=JSON_CT + r"""
pm.test('200 without a token', function () { pm.response.to.have.status(200); });
pm.test('body says ready, with its checks', function () {
    const b = pm.response.json();
    pm.expect(b.status).to.eql('ready');
    pm.expect(b.checks).to.be.an('object');
    pm.expect(b.checks.store_writable).to.eql(true);
    pm.expect(b.checks.config_loaded).to.eql(true);
    if ('credentials' in b.checks) pm.expect(b.checks.credentials).to.eql(true);
});"""),
    req("OpenAPI document", "GET", "/openapi.json",
        desc="`GET /openapi.json`: the OpenAPI 3.1 document of the whole API (imports into Postman).",
        tests=JSON_CT + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
const doc = pm.response.json();
pm.test('an OpenAPI 3.1 document', function () {
    pm.expect(doc.openapi).to.match(/^3\.1\.\d+$/);
    pm.expect(doc.info).to.be.an('object');
    pm.expect(doc.info.title).to.be.a('string').and.not.empty;
    pm.expect(doc.info.version).to.be.a('string').and.not.empty;
    pm.expect(doc.paths).to.be.an('object');
});
pm.test('every route of the API is documented', function () {
    const routes = {
        '/tasks': ['get', 'post'], '/tasks/{id}': ['get', 'delete'],
        '/tasks/{id}/logs': ['get'], '/templates': ['get'], '/templates/{name}': ['get'],
        '/process_file': ['post'], '/healthz': ['get'], '/readyz': ['get'],
        '/metrics': ['get'], '/openapi.json': ['get']
    };
    Object.keys(routes).forEach(function (path) {
        pm.expect(doc.paths, 'paths').to.have.property(path);
        routes[path].forEach(function (m) {
            pm.expect(doc.paths[path], path).to.have.property(m);
            pm.expect(doc.paths[path][m].responses, m + ' ' + path + ' responses')
                .to.be.an('object').that.is.not.empty;
        });
    });
});
pm.test('bearer authentication is declared', function () {
    const schemes = (doc.components || {}).securitySchemes || {};
    const bearer = Object.keys(schemes).filter(function (k) {
        return schemes[k].type === 'http' && /^bearer$/i.test(schemes[k].scheme);
    });
    pm.expect(bearer, 'http bearer security schemes').to.not.be.empty;
});"""),
])

# ---- Authentication -----------------------------------------------------------------------

auth = folder("Authentication", "Every route but `/healthz` and `/readyz` needs "
              "`Authorization: Bearer {{token}}` when a tokens file is configured; without it "
              "(or with a wrong one) the answer is 401 with `WWW-Authenticate: Bearer`.", [
    req("No token → 401", "GET", "/tasks", auth="none", tests=PROBLEM_FN + r"""
pm.test('401 problem+json', function () {
    const p = expectProblem(401);
    pm.expect(p.title).to.eql('Unauthorized');
});
pm.test('WWW-Authenticate: Bearer', function () {
    pm.expect(pm.response.headers.get('WWW-Authenticate')).to.match(/^Bearer\b/);
});"""),
    req("Wrong token → 401", "POST", "/tasks", auth="not-the-token-0123456789abcdef",
        body=TASK_BODY, tests=PROBLEM_FN + r"""
pm.test('401 problem+json, nothing submitted', function () {
    expectProblem(401);
    pm.response.to.not.have.header('Location');
});
pm.test('WWW-Authenticate: Bearer', function () {
    pm.expect(pm.response.headers.get('WWW-Authenticate')).to.match(/^Bearer\b/);
});"""),
    req("No token on /openapi.json → 401", "GET", "/openapi.json", auth="none",
        tests=PROBLEM_FN + r"""
pm.test('401 problem+json', function () { expectProblem(401); });
pm.test('WWW-Authenticate: Bearer', function () {
    pm.expect(pm.response.headers.get('WWW-Authenticate')).to.match(/^Bearer\b/);
});"""),
    req("No token on /metrics → 401", "GET", "/metrics", auth="none",
        tests=PROBLEM_FN + r"""
pm.test('401 problem+json', function () { expectProblem(401); });
pm.test('WWW-Authenticate: Bearer', function () {
    pm.expect(pm.response.headers.get('WWW-Authenticate')).to.match(/^Bearer\b/);
});"""),
])

# ---- Templates ----------------------------------------------------------------------------

TEMPLATE_FN = r"""
// A template and its parameter schemas (GET /templates, GET /templates/{name}).
function expectTemplate(t) {
    pm.expect(t).to.be.an('object').that.includes.all.keys('name', 'launcher', 'parameters',
        'timeout_seconds');
    pm.expect(t.name).to.be.a('string').and.not.empty;
    pm.expect(['ecs', 'local', 'docker']).to.include(t.launcher);
    pm.expect(t.timeout_seconds).to.be.a('number');
    pm.expect(t.parameters).to.be.an('array');
    t.parameters.forEach(function (p) {
        pm.expect(p).to.include.all.keys('name', 'required', 'env', 'max_length');
        pm.expect(p.name).to.be.a('string');
        pm.expect(p.required).to.be.a('boolean');
        pm.expect(p.env).to.match(/^[A-Z_][A-Z0-9_]*$/);
        pm.expect(p.max_length).to.be.a('number');
    });
}
// process_file keeps the original Poky's three required fields and their variables.
function expectProcessFile(t) {
    const byName = {};
    t.parameters.forEach(function (p) { byName[p.name] = p; });
    [['source_bucket', 'SOURCE_BUCKET'], ['source_key', 'SOURCE_KEY'],
     ['output_bucket', 'OUTPUT_BUCKET']].forEach(function (x) {
        pm.expect(byName, 'parameters').to.have.property(x[0]);
        pm.expect(byName[x[0]].required, x[0] + '.required').to.eql(true);
        pm.expect(byName[x[0]].env, x[0] + '.env').to.eql(x[1]);
    });
    if (byName.delete_source) {
        pm.expect(byName.delete_source.required).to.eql(false);
        pm.expect(byName.delete_source.default).to.eql('false');
    }
}"""

templates = folder("Templates", "The configured templates and their parameter schemas.", [
    req("List templates", "GET", "/templates", tests=JSON_CT + TEMPLATE_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
const b = pm.response.json();
pm.test('{"templates": [...]} with the documented shape', function () {
    pm.expect(b).to.have.property('templates').that.is.an('array').that.is.not.empty;
    b.templates.forEach(expectTemplate);
});
pm.test('process_file is configured, with the original fields', function () {
    const t = b.templates.filter(function (x) { return x.name === 'process_file'; })[0];
    pm.expect(t, 'process_file').to.be.an('object');
    expectProcessFile(t);
});
pm.test('the long-running template used by the cancel requests is configured', function () {
    const names = b.templates.map(function (x) { return x.name; });
    pm.expect(names).to.include(pm.variables.get('slowTemplate'));
});"""),
    req("Get template process_file", "GET", "/templates/process_file",
        tests=JSON_CT + TEMPLATE_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('the process_file template and its parameters', function () {
    const t = pm.response.json();
    expectTemplate(t);
    pm.expect(t.name).to.eql('process_file');
    expectProcessFile(t);
});"""),
    req("Get an unknown template → 404", "GET", "/templates/no_such_template",
        tests=PROBLEM_FN + r"""
pm.test('404 problem+json', function () {
    const p = expectProblem(404);
    pm.expect(p.detail).to.include('no_such_template');
});"""),
])

# ---- Submit and follow a task ---------------------------------------------------------------

SUBMIT_TESTS = JSON_CT + RECORD_FN + PARAMS_ECHO + r"""
pm.test('202 Accepted', function () { pm.response.to.have.status(202); });
const rec = pm.response.json();
pm.test('the new task record', function () {
    expectTaskRecord(rec);
    pm.expect(rec.template).to.eql('process_file');
    pm.expect(['queued', 'starting', 'running']).to.include(rec.status);
    pm.expect(rec.finished_at).to.eql(null);
    pm.expect(rec.exit_code).to.eql(null);
});
pm.test('parameters are echoed, defaults filled in', function () {
    pm.expect(rec.parameters).to.eql(expected);
});
pm.test('timeout_seconds lowered to the one asked for', function () {
    pm.expect(rec.timeout_seconds).to.eql(300);
});
pm.test('Location: /tasks/{id}', function () {
    pm.expect(pm.response.headers.get('Location')).to.eql('/tasks/' + rec.id);
});
pm.collectionVariables.set('taskId', rec.id);
pm.collectionVariables.set('taskCreatedAt', rec.created_at);"""

tasks = folder("Tasks: submit and follow", "Submit a `process_file` task with an "
               "`Idempotency-Key`, replay it, follow it to its end, read its log; the 404s and "
               "409s around one task.", [
    req("Submit a task", "POST", "/tasks", body=TASK_BODY,
        headers=[("Idempotency-Key", "{{idemKey}}")],
        desc="`POST /tasks`: 202 with the record and `Location: /tasks/{id}`. The key is new "
             "each run (pre-request script).",
        pre=r"""
// A new Idempotency-Key for every run of the collection.
pm.collectionVariables.set('idemKey', 'postman-' + pm.variables.replaceIn('{{$guid}}'));
pm.collectionVariables.set('pollCount', 0);""", tests=SUBMIT_TESTS),
    req("Replay the submit (same key, same body) → 200", "POST", "/tasks", body=TASK_BODY,
        headers=[("Idempotency-Key", "{{idemKey}}")],
        desc="Same `Idempotency-Key` and same body: the original record, 200, no new task.",
        tests=JSON_CT + RECORD_FN + r"""
pm.test('200 OK (a replay, not a new task)', function () { pm.response.to.have.status(200); });
const rec = pm.response.json();
pm.test('the same task', function () {
    expectTaskRecord(rec);
    pm.expect(rec.id).to.eql(pm.collectionVariables.get('taskId'));
    pm.expect(rec.created_at).to.eql(pm.collectionVariables.get('taskCreatedAt'));
});
pm.test('Location: the same task', function () {
    pm.expect(pm.response.headers.get('Location')).to.eql('/tasks/' + pm.collectionVariables.get('taskId'));
});"""),
    req("Reuse the key with another body → 409", "POST", "/tasks", body=TASK_BODY_OTHER,
        headers=[("Idempotency-Key", "{{idemKey}}")],
        desc="Same `Idempotency-Key`, different body: 409, nothing launched.",
        tests=PROBLEM_FN + r"""
pm.test('409 conflict problem', function () {
    expectProblem(409, 'urn:poky:problem:conflict');
    pm.response.to.not.have.header('Location');
});"""),
    req("Wait for the task to finish", "GET", "/tasks/{{taskId}}", pre=POLL_PRE,
        desc="`GET /tasks/{id}`, repeated (at most `pollAttempts` times, `pollDelayMs` apart) "
             "until the task reaches a final status.",
        tests=PARAMS_ECHO + poll_test(r"""
pm.test('the task succeeded', function () {
    pm.expect(rec.status, 'status (reason: ' + rec.reason + ')').to.eql('succeeded');
    pm.expect(rec.exit_code).to.eql(0);
    pm.expect(rec.reason).to.eql(null);
    pm.expect(rec.started_at).to.match(ISO);
});
pm.test('it is the task submitted', function () {
    pm.expect(rec.id).to.eql(pm.collectionVariables.get('taskId'));
    pm.expect(rec.template).to.eql('process_file');
    pm.expect(rec.parameters).to.eql(expected);
});""")),
    req("Get the task's log", "GET", "/tasks/{{taskId}}/logs",
        desc="`GET /tasks/{id}/logs`: the local task's stdout and stderr, as text. The worker "
             "prints one JSON line on success.",
        tests=r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('Content-Type is text/plain', function () {
    pm.expect(pm.response.headers.get('Content-Type')).to.match(/^text\/plain/);
});
function rxEscape(s) { return s.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&'); }
pm.test("the worker's summary line: the copy under a new name", function () {
    const line = pm.response.text().split('\n').filter(function (l) {
        return l.charAt(0) === '{';
    }).pop();
    pm.expect(line, 'a JSON line in the log').to.be.a('string');
    const s = JSON.parse(line);
    const bucket = pm.variables.get('sourceBucket'), key = pm.variables.get('sourceKey');
    const dot = key.lastIndexOf('.');
    const stem = dot > 0 ? key.slice(0, dot) : key, ext = dot > 0 ? key.slice(dot) : '';
    pm.expect(s.source).to.eql('s3://' + bucket + '/' + key);
    pm.expect(s.destination).to.match(new RegExp('^s3://' + rxEscape(pm.variables.get('outputBucket')) +
        '/' + rxEscape(stem) + '_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}' +
        rxEscape(ext) + '$'));
    pm.expect(s.bytes).to.be.a('number').and.above(0);
});"""),
    req("Cancel the finished task → 409", "DELETE", "/tasks/{{taskId}}",
        desc="`DELETE /tasks/{id}` of a task that has already finished: 409.",
        tests=PROBLEM_FN + r"""
pm.test('409 conflict problem', function () {
    const p = expectProblem(409, 'urn:poky:problem:conflict');
    pm.expect(p.detail).to.include('succeeded');
});"""),
    req("Get an unknown task → 404", "GET", "/tasks/{{unknownTaskId}}", tests=PROBLEM_FN + r"""
pm.test('404 problem+json', function () {
    const p = expectProblem(404);
    pm.expect(p.detail).to.include(pm.variables.get('unknownTaskId'));
});"""),
    req("Get a malformed task id → 404", "GET", "/tasks/not-a-task-id", tests=PROBLEM_FN + r"""
pm.test('404 problem+json', function () { expectProblem(404); });"""),
    req("Log of an unknown task → 404", "GET", "/tasks/{{unknownTaskId}}/logs",
        tests=PROBLEM_FN + r"""
pm.test('404 problem+json', function () { expectProblem(404); });"""),
    req("Cancel an unknown task → 404", "DELETE", "/tasks/{{unknownTaskId}}",
        tests=PROBLEM_FN + r"""
pm.test('404 problem+json', function () { expectProblem(404); });"""),
])

# ---- Validation ---------------------------------------------------------------------------

V = "urn:poky:problem:validation"
validation = folder("Tasks: rejected submits", "What `POST /tasks` refuses, and how: 415 for "
                    "another media type, 400 problems naming every bad field in `errors[]`.", [
    req("Not JSON → 415", "POST", "/tasks", headers=[("Content-Type", "text/plain")],
        body="template=process_file", tests=PROBLEM_FN + r"""
pm.test('415 media-type problem', function () {
    expectProblem(415, 'urn:poky:problem:media-type');
});"""),
    req("Malformed JSON → 400", "POST", "/tasks", body='{"template": "process_file", ',
        tests=PROBLEM_FN + r"""
pm.test('400 JSON problem', function () {
    const p = expectProblem(400, 'urn:poky:problem:json');
    pm.expect(p.detail).to.match(/line \d+ column \d+/);
});"""),
    req("A JSON array → 400", "POST", "/tasks", body='["process_file"]', tests=PROBLEM_FN + r"""
pm.test('400 JSON problem: the body must be an object', function () {
    expectProblem(400, 'urn:poky:problem:json');
});"""),
    req("Bad request fields → 400 errors[]", "POST", "/tasks",
        body=js_body({"templat": "process_file", "timeout_seconds": 0}),
        headers=[("Idempotency-Key", "has spaces in it")],
        tests=PROBLEM_FN + r"""
pm.test('400 validation problem naming every bad field', function () {
    const p = expectProblem(400, '""" + V + r"""');
    pm.expect(errorFields(p)).to.include.members(['templat', 'template', 'timeout_seconds',
        'Idempotency-Key']);
    p.errors.forEach(function (e) {
        pm.expect(e.message, e.field).to.be.a('string').and.not.empty;
    });
});"""),
    req("Bad parameters → 400 errors[]", "POST", "/tasks", body=js_body({
        "template": "process_file",
        "parameters": {"source_bucket": "{{sourceBucket}}", "colour": "red",
                       "delete_source": "maybe"}}),
        tests=PROBLEM_FN + r"""
pm.test('400 validation problem naming every bad parameter', function () {
    const p = expectProblem(400, '""" + V + r"""');
    const fields = errorFields(p);
    pm.expect(fields).to.include.members(['colour', 'source_key', 'output_bucket', 'delete_source']);
    pm.expect(fields).to.not.include('source_bucket');
    const byField = {};
    p.errors.forEach(function (e) { byField[e.field] = e.message; });
    pm.expect(byField.colour).to.eql('unknown parameter');
    pm.expect(byField.source_key).to.eql('required');
    pm.expect(byField.delete_source).to.include('^(true|false)$');
});"""),
    req("Unknown template → 400", "POST", "/tasks",
        body=js_body({"template": "no_such_template", "parameters": {}}),
        tests=PROBLEM_FN + r"""
pm.test('400 validation problem on template', function () {
    const p = expectProblem(400, '""" + V + r"""');
    pm.expect(errorFields(p)).to.eql(['template']);
});"""),
    req("Missing source bucket → 400", "POST", "/tasks", body=js_body({
        "template": "process_file",
        "parameters": {"source_bucket": "postman-no-such-bucket", "source_key": "{{sourceKey}}",
                       "output_bucket": "{{outputBucket}}"}}),
        desc="The original Poky's existence checks, before anything is launched.",
        tests=PROBLEM_FN + r"""
pm.test("400 validation problem in the original's words", function () {
    const p = expectProblem(400, '""" + V + r"""');
    pm.expect(errorFields(p)).to.eql(['source_bucket']);
    pm.expect(p.detail).to.eql('The source bucket provided does not exist, or you do not ' +
        'have permissions to access it');
});"""),
    req("Refused callback_url → 400", "POST", "/tasks", body=js_body({
        "template": "process_file",
        "parameters": {"source_bucket": "{{sourceBucket}}", "source_key": "{{sourceKey}}",
                       "output_bucket": "{{outputBucket}}"},
        "callback_url": "http://169.254.169.254/latest/meta-data/"}),
        desc="Webhooks must start with a `webhook_allow` prefix (default `https://`) and may not "
             "point at loopback, link-local or private addresses.",
        tests=PROBLEM_FN + r"""
pm.test('400 validation problem on callback_url', function () {
    const p = expectProblem(400, '""" + V + r"""');
    pm.expect(errorFields(p)).to.eql(['callback_url']);
});"""),
])

# ---- Cancel ---------------------------------------------------------------------------------

cancel = folder("Tasks: cancel", "Cancel a running task: `DELETE /tasks/{id}` answers 202 and the "
                "task ends `cancelled`; a second cancel is 409. Needs a template that runs long "
                "enough to be cancelled: `{{slowTemplate}}` (run-newman.sh configures `slow`, "
                "`/bin/sleep 60`).", [
    req("Submit a long-running task", "POST", "/tasks",
        body=js_body({"template": "{{slowTemplate}}", "parameters": {}}),
        pre="pm.collectionVariables.set('pollCount', 0);",
        tests=JSON_CT + RECORD_FN + r"""
pm.test('202 Accepted', function () { pm.response.to.have.status(202); });
const rec = pm.response.json();
pm.test('the new task record', function () {
    expectTaskRecord(rec);
    pm.expect(rec.template).to.eql(pm.variables.get('slowTemplate'));
    pm.expect(['queued', 'starting', 'running']).to.include(rec.status);
});
pm.test('Location: /tasks/{id}', function () {
    pm.expect(pm.response.headers.get('Location')).to.eql('/tasks/' + rec.id);
});
pm.collectionVariables.set('slowTaskId', rec.id);"""),
    req("Cancel the running task → 202", "DELETE", "/tasks/{{slowTaskId}}",
        tests=JSON_CT + RECORD_FN + r"""
pm.test('202 Accepted', function () { pm.response.to.have.status(202); });
pm.test('the record of the task being cancelled', function () {
    const rec = pm.response.json();
    expectTaskRecord(rec);
    pm.expect(rec.id).to.eql(pm.collectionVariables.get('slowTaskId'));
    pm.expect(['queued', 'starting', 'running', 'cancelled']).to.include(rec.status);
});"""),
    req("Wait for the task to be cancelled", "GET", "/tasks/{{slowTaskId}}", pre=POLL_PRE,
        tests=poll_test(r"""
pm.test('the task was cancelled, and says by whom', function () {
    pm.expect(rec.status, 'status (reason: ' + rec.reason + ')').to.eql('cancelled');
    pm.expect(rec.reason).to.match(/^cancelled through the Poky API by \S+/);
    pm.expect(rec.id).to.eql(pm.collectionVariables.get('slowTaskId'));
});""")),
    req("Cancel it again → 409", "DELETE", "/tasks/{{slowTaskId}}", tests=PROBLEM_FN + r"""
pm.test('409 conflict problem', function () {
    const p = expectProblem(409, 'urn:poky:problem:conflict');
    pm.expect(p.detail).to.include('cancelled');
});"""),
])

# ---- /process_file ------------------------------------------------------------------------

COMPAT_FN = r"""
// The ECS RunTask answer the original Poky returned (pokyd's local launcher answers the
// same shape): the three fields as container environment overrides.
function expectRunTask(b) {
    pm.expect(b).to.be.an('object');
    pm.expect(b.tasks).to.be.an('array').with.lengthOf(1);
    pm.expect(b.failures).to.be.an('array').that.is.empty;
    const co = b.tasks[0].overrides.containerOverrides;
    pm.expect(co).to.be.an('array').that.is.not.empty;
    const env = {};
    co[0].environment.forEach(function (kv) {
        pm.expect(kv).to.have.all.keys('name', 'value');
        env[kv.name] = kv.value;
    });
    pm.expect(env).to.include({
        SOURCE_BUCKET: pm.variables.get('sourceBucket'),
        SOURCE_KEY: pm.variables.get('sourceKey'),
        OUTPUT_BUCKET: pm.variables.get('outputBucket')
    });
    pm.expect(co[0].environment.slice(0, 3).map(function (kv) { return kv.name; }))
        .to.eql(['SOURCE_BUCKET', 'SOURCE_KEY', 'OUTPUT_BUCKET']);
}
// The Location header names the Poky task behind the answer.
function taskIdFromLocation() {
    const loc = pm.response.headers.get('Location') || '';
    pm.expect(loc).to.match(/^\/tasks\/[0-9a-f-]{36}$/);
    return loc.slice('/tasks/'.length);
}"""

MISSING = "Missing required field.  Required fields are ['source_bucket', 'source_key', 'output_bucket']"
compat = folder("Original Poky: /process_file", "The original Flask route, kept as a drop-in: "
                "form-encoded (or JSON) `source_bucket`, `source_key`, `output_bucket`; 200 with "
                "the RunTask answer; 400 with the original's texts as bare JSON strings.", [
    req("Process a file (form)", "POST", "/process_file",
        form=[("source_bucket", "{{sourceBucket}}"), ("source_key", "{{sourceKey}}"),
              ("output_bucket", "{{outputBucket}}")],
        pre="pm.collectionVariables.set('pollCount', 0);",
        tests=JSON_CT + COMPAT_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('a RunTask answer with the three environment overrides', function () {
    expectRunTask(pm.response.json());
});
pm.test('Location names the Poky task', function () {
    const id = taskIdFromLocation();
    const b = pm.response.json();
    if ('pokyTaskId' in b) pm.expect(b.pokyTaskId).to.eql(id);
    pm.collectionVariables.set('compatTaskId', id);
});"""),
    req("Wait for the /process_file task", "GET", "/tasks/{{compatTaskId}}", pre=POLL_PRE,
        tests=poll_test(r"""
pm.test('the copy succeeded', function () {
    pm.expect(rec.status, 'status (reason: ' + rec.reason + ')').to.eql('succeeded');
    pm.expect(rec.exit_code).to.eql(0);
    pm.expect(rec.template).to.eql('process_file');
    pm.expect(rec.parameters).to.include({
        source_bucket: pm.variables.get('sourceBucket'),
        source_key: pm.variables.get('sourceKey'),
        output_bucket: pm.variables.get('outputBucket')
    });
});""")),
    req("Process a file (JSON)", "POST", "/process_file", body=js_body({
        "source_bucket": "{{sourceBucket}}", "source_key": "{{sourceKey}}",
        "output_bucket": "{{outputBucket}}"}),
        tests=JSON_CT + COMPAT_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('a RunTask answer with the three environment overrides', function () {
    expectRunTask(pm.response.json());
});
pm.test('Location names another Poky task', function () {
    const id = taskIdFromLocation();
    pm.expect(id).to.not.eql(pm.collectionVariables.get('compatTaskId'));
});"""),
    req("Missing field → 400 string", "POST", "/process_file",
        form=[("source_bucket", "{{sourceBucket}}"), ("source_key", "{{sourceKey}}")],
        tests=JSON_CT + r"""
pm.test('400', function () { pm.response.to.have.status(400); });
pm.test("the original's text, as a JSON string", function () {
    pm.expect(pm.response.json()).to.eql(""" + json.dumps(MISSING) + r""");
});"""),
    req("No such source bucket → 400 string", "POST", "/process_file",
        form=[("source_bucket", "postman-no-such-bucket"), ("source_key", "{{sourceKey}}"),
              ("output_bucket", "{{outputBucket}}")],
        tests=JSON_CT + r"""
pm.test('400', function () { pm.response.to.have.status(400); });
pm.test("the original's text, as a JSON string", function () {
    pm.expect(pm.response.json()).to.eql('The source bucket provided does not exist, or you ' +
        'do not have permissions to access it');
});"""),
    req("No such source key → 400 string", "POST", "/process_file",
        form=[("source_bucket", "{{sourceBucket}}"), ("source_key", "postman-no-such-key.txt"),
              ("output_bucket", "{{outputBucket}}")],
        tests=JSON_CT + r"""
pm.test('400', function () { pm.response.to.have.status(400); });
pm.test("the original's text, as a JSON string", function () {
    pm.expect(pm.response.json()).to.eql('The source key provided does not exist, or you ' +
        'do not have permissions to access it');
});"""),
])

# ---- Listing ------------------------------------------------------------------------------

LIST_FN = RECORD_FN + r"""
function expectList(b) {
    pm.expect(b).to.be.an('object').that.has.all.keys('tasks', 'next_cursor');
    pm.expect(b.tasks).to.be.an('array');
    b.tasks.forEach(expectTaskRecord);
    if (b.next_cursor !== null) pm.expect(b.next_cursor).to.be.a('string').and.not.empty;
    // newest first
    for (let i = 1; i < b.tasks.length; i++)
        pm.expect(Date.parse(b.tasks[i - 1].created_at), 'newest first')
            .to.be.at.least(Date.parse(b.tasks[i].created_at));
}"""

listing = folder("Tasks: list", "`GET /tasks`: newest first, `status` and `template` filters, "
                 "`limit` (1-1000, default 100) and the opaque `cursor` of the previous page.", [
    req("List tasks, one per page", "GET", "/tasks", query=[("limit", "1")],
        tests=JSON_CT + LIST_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
const b = pm.response.json();
pm.test('one task and a cursor to the next page', function () {
    expectList(b);
    pm.expect(b.tasks).to.have.lengthOf(1);
    pm.expect(b.next_cursor).to.be.a('string');
});
pm.collectionVariables.set('firstListedId', b.tasks[0] ? b.tasks[0].id : '');
pm.collectionVariables.set('firstListedAt', b.tasks[0] ? b.tasks[0].created_at : '');
pm.collectionVariables.set('nextCursor', b.next_cursor || '');"""),
    req("List tasks, the next page", "GET", "/tasks",
        query=[("limit", "1"), ("cursor", "{{nextCursor}}")],
        tests=JSON_CT + LIST_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('the next (older) task', function () {
    const b = pm.response.json();
    expectList(b);
    pm.expect(b.tasks).to.have.lengthOf(1);
    pm.expect(b.tasks[0].id).to.not.eql(pm.collectionVariables.get('firstListedId'));
    pm.expect(Date.parse(b.tasks[0].created_at))
        .to.be.at.most(Date.parse(pm.collectionVariables.get('firstListedAt')));
});"""),
    req("List succeeded process_file tasks", "GET", "/tasks",
        query=[("status", "succeeded"), ("template", "process_file"), ("limit", "1000")],
        tests=JSON_CT + LIST_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
const b = pm.response.json();
pm.test('only tasks that match both filters', function () {
    expectList(b);
    b.tasks.forEach(function (t) {
        pm.expect(t.status).to.eql('succeeded');
        pm.expect(t.template).to.eql('process_file');
    });
});
pm.test('including the tasks this run made, not the cancelled one', function () {
    const ids = b.tasks.map(function (t) { return t.id; });
    pm.expect(ids).to.include.members([pm.collectionVariables.get('taskId'),
        pm.collectionVariables.get('compatTaskId')]);
    pm.expect(ids).to.not.include(pm.collectionVariables.get('slowTaskId'));
});
pm.test('a page shorter than the limit is the last one', function () {
    if (b.tasks.length < 1000) pm.expect(b.next_cursor).to.eql(null);
});"""),
    req("List cancelled tasks", "GET", "/tasks", query=[("status", "cancelled")],
        tests=JSON_CT + LIST_FN + r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('the cancelled task is there, and only cancelled ones', function () {
    const b = pm.response.json();
    expectList(b);
    b.tasks.forEach(function (t) { pm.expect(t.status).to.eql('cancelled'); });
    pm.expect(b.tasks.map(function (t) { return t.id; }))
        .to.include(pm.collectionVariables.get('slowTaskId'));
});"""),
    req("Bad list query → 400 errors[]", "GET", "/tasks",
        query=[("status", "bogus"), ("limit", "0"), ("cursor", "not-a-cursor")],
        tests=PROBLEM_FN + r"""
pm.test('400 validation problem naming every bad query parameter', function () {
    const p = expectProblem(400, '""" + V + r"""');
    pm.expect(errorFields(p)).to.have.members(['status', 'limit', 'cursor']);
});"""),
    req("Limit over 1000 → 400", "GET", "/tasks", query=[("limit", "1001")],
        tests=PROBLEM_FN + r"""
pm.test('400 validation problem on limit', function () {
    const p = expectProblem(400, '""" + V + r"""');
    pm.expect(errorFields(p)).to.eql(['limit']);
});"""),
])

# ---- Protocol errors ----------------------------------------------------------------------

protocol = folder("Protocol errors", "Answers before any handler runs: unknown paths, "
                  "methods a path does not take, bodies over `max_body_bytes`.", [
    req("Unknown path → 404", "GET", "/no/such/route", tests=PROBLEM_FN + r"""
pm.test('404 problem+json', function () { expectProblem(404); });"""),
    req("Method not allowed → 405 with Allow", "PUT", "/tasks", body="{}",
        tests=PROBLEM_FN + r"""
pm.test('405 problem+json', function () { expectProblem(405); });
pm.test('Allow lists the methods of /tasks', function () {
    const allow = (pm.response.headers.get('Allow') || '').split(/\s*,\s*/);
    pm.expect(allow).to.include.members(['GET', 'POST']);
});"""),
    req("Body over max_body_bytes → 413", "POST", "/tasks", body="{{bigBody}}",
        desc="The pre-request script makes a 70 000-byte body (the default `max_body_bytes` "
             "is 65536).",
        pre=r"""
pm.variables.set('bigBody', JSON.stringify({ template: 'process_file',
    parameters: { source_key: new Array(70001).join('k') } }));""",
        tests=PROBLEM_FN + r"""
pm.test('413 problem+json', function () { expectProblem(413); });"""),
])

# ---- Metrics ------------------------------------------------------------------------------

watch = folder("Watch and console", "`GET /events` is a Server-Sent Events stream that does not "
               "end, so the collection only checks how it refuses a bad filter (a streaming client "
               "such as `curl -N` or the console follows it); the web console's files need no "
               "token.", [
    req("Events refuse an unknown status", "GET", "/events", query=[("status", "bogus")],
        desc="`GET /events?status=...` takes a task status; anything else is a 400 naming "
             "the field, before any stream starts.",
        tests=r"""
pm.test('400 problem naming status', function () {
    pm.response.to.have.status(400);
    const b = pm.response.json();
    pm.expect(b.errors.map(e => e.field)).to.include('status');
});"""),
    req("Console page", "GET", "/ui/", auth="none",
        desc="`GET /ui/`: the console's page, open, under a strict Content-Security-Policy.",
        tests=r"""
pm.test('200 html', function () {
    pm.response.to.have.status(200);
    pm.expect(pm.response.headers.get('Content-Type')).to.include('text/html');
});
pm.test('strict CSP', function () {
    pm.expect(pm.response.headers.get('Content-Security-Policy')).to.include("default-src 'none'");
});"""),
    req("Console script", "GET", "/ui/app.js", auth="none",
        desc="`GET /ui/{file}`: one of the console's compiled-in files.",
        tests=r"""
pm.test('200 javascript', function () {
    pm.response.to.have.status(200);
    pm.expect(pm.response.headers.get('Content-Type')).to.include('javascript');
});"""),
    req("Console without its slash", "GET", "/ui", auth="none",
        desc="`GET /ui` redirects to `/ui/` (308).",
        tests=r"""
pm.test('redirected to the page (308, followed)', function () {
    pm.expect(pm.response.code).to.be.oneOf([200, 308]);
});"""),
])

metrics = folder("Metrics", "`GET /metrics` last, when this run's tasks are counted.", [
    req("Prometheus metrics", "GET", "/metrics", tests=r"""
pm.test('200', function () { pm.response.to.have.status(200); });
pm.test('Content-Type: Prometheus text format 0.0.4', function () {
    pm.expect(pm.response.headers.get('Content-Type')).to.match(/^text\/plain; *version=0\.0\.4/);
});
const text = pm.response.text();
const samples = {};
const types = {};
pm.test('every line is a comment or a sample', function () {
    text.split('\n').forEach(function (l) {
        if (l === '') return;
        if (l.indexOf('# TYPE ') === 0) { types[l.split(' ')[2]] = l.split(' ')[3]; return; }
        if (l.indexOf('# HELP ') === 0) return;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) (\S+)$/.exec(l);
        pm.expect(m, 'sample line: ' + l).to.not.eql(null);
        samples[m[1]] = Number(m[5]);
    });
});
pm.test('task gauges by status count this run', function () {
    pm.expect(types.poky_tasks).to.eql('gauge');
    pm.expect(samples['poky_tasks{status="succeeded"}']).to.be.at.least(2);
    pm.expect(samples['poky_tasks{status="cancelled"}']).to.be.at.least(1);
});
pm.test('launches and HTTP requests are counted', function () {
    pm.expect(types.poky_tasks_launched_total).to.eql('counter');
    pm.expect(samples['poky_tasks_launched_total{template="process_file",launcher="local"}'])
        .to.be.at.least(3);
    pm.expect(types.poky_http_requests_total).to.eql('counter');
    pm.expect(samples['poky_http_requests_total{method="POST",route="/tasks",code="202"}'])
        .to.be.at.least(2);
    pm.expect(samples['poky_http_requests_total{method="GET",route="/healthz",code="200"}'])
        .to.be.at.least(1);
});"""),
])

# ------------------------------------------------------------------ saved examples

def find(f, name):
    return [i for i in f["item"] if i["name"] == name][0]


EX_ID = "01a21ff2-0b46-7000-a222-b3aa9cf6f166"
EX_PARAMS = {"source_bucket": "test-poky-input", "source_key": "test_file.txt",
             "output_bucket": "test-poky-output", "delete_source": "false"}
EX_RUNNING = {"id": EX_ID, "template": "process_file", "status": "running", "launcher": "local",
              "parameters": EX_PARAMS, "created_at": "2026-11-28T02:18:06.022Z",
              "updated_at": "2026-11-28T02:18:06.024Z", "started_at": "2026-11-28T02:18:06.024Z",
              "finished_at": None, "exit_code": None, "reason": None, "timeout_seconds": 300,
              "local": {"pid": 26395, "log": "/tasks/%s/logs" % EX_ID}}
EX_DONE = dict(EX_RUNNING, status="succeeded", updated_at="2026-11-28T02:18:06.122Z",
               finished_at="2026-11-28T02:18:06.122Z", exit_code=0)
example(find(tasks, "Submit a task"), "202 Accepted", 202, "Accepted", EX_RUNNING,
        [("Location", "/tasks/" + EX_ID)])
example(find(tasks, "Wait for the task to finish"), "200 succeeded", 200, "OK", EX_DONE)
example(find(tasks, "Reuse the key with another body → 409"), "409 Conflict", 409, "Conflict",
        {"type": "urn:poky:problem:conflict", "title": "Idempotency key reused", "status": 409,
         "detail": "Idempotency-Key was used with a different request"})
find(tasks, "Reuse the key with another body → 409")["response"][0]["header"][0]["value"] = \
    "application/problem+json"
example(find(validation, "Bad parameters → 400 errors[]"), "400 Bad Request", 400,
        "Bad Request", {"type": "urn:poky:problem:validation", "title": "Invalid parameters",
                        "status": 400, "detail": "4 parameter(s) rejected", "errors": [
                            {"field": "colour", "message": "unknown parameter"},
                            {"field": "source_key", "message": "required"},
                            {"field": "output_bucket", "message": "required"},
                            {"field": "delete_source", "message": "does not match ^(true|false)$"}]})
find(validation, "Bad parameters → 400 errors[]")["response"][0]["header"][0]["value"] = \
    "application/problem+json"
EX_C = "01a21ff2-250a-7000-9103-99e9d48a4672"
example(find(compat, "Process a file (form)"), "200 RunTask answer", 200, "OK", {
    "tasks": [{"taskArn": EX_C, "launchType": "LOCAL", "lastStatus": "PROVISIONING",
               "group": "process_file", "overrides": {"containerOverrides": [{
                   "name": "process_file", "environment": [
                       {"name": "SOURCE_BUCKET", "value": "test-poky-input"},
                       {"name": "SOURCE_KEY", "value": "test_file.txt"},
                       {"name": "OUTPUT_BUCKET", "value": "test-poky-output"}]}]}}],
    "failures": [], "pokyTaskId": EX_C}, [("Location", "/tasks/" + EX_C)])
example(find(compat, "Missing field → 400 string"), "400 the original's text", 400,
        "Bad Request", MISSING)

# ------------------------------------------------------------------ collection

COMMON_PRE = r"""
// Every request carries its own X-Request-Id (unless it sets one): pokyd logs it on every
// line of that request, so a failed test can be found in the daemon's log.
if (!pm.request.headers.has('X-Request-Id')) {
    pm.request.headers.add({ key: 'X-Request-Id',
        value: 'postman-' + pm.variables.replaceIn('{{$guid}}') });
}"""

COMMON_TEST = r"""
// Checks every answer of the API shares (README "The HTTP API").
const sentId = pm.request.headers.get('X-Request-Id');
pm.test('[all] X-Request-Id: ours when tame, else a new one', function () {
    const got = pm.response.headers.get('X-Request-Id');
    pm.expect(got, 'X-Request-Id').to.be.a('string').and.not.empty;
    if (/^[A-Za-z0-9._:-]{1,64}$/.test(sentId || '')) pm.expect(got).to.eql(sentId);
});
pm.test('[all] Cache-Control: no-store (API), no-cache (the console\'s files)', function () {
    const ui = pm.request.url.getPath().startsWith('/ui');
    pm.expect(pm.response.headers.get('Cache-Control')).to.eql(ui ? 'no-cache' : 'no-store');
});
// Errors are RFC 9457 problems, except the original Poky's /process_file 400s (JSON strings).
const compat400 = pm.request.url.getPath() === '/process_file' && pm.response.code === 400;
if (pm.response.code >= 400 && !compat400) {
    pm.test('[all] an error is application/problem+json (RFC 9457)', function () {
        pm.expect(pm.response.headers.get('Content-Type')).to.match(/^application\/problem\+json/);
        const p = pm.response.json();
        pm.expect(p).to.be.an('object').that.includes.all.keys('type', 'title', 'status', 'detail');
        pm.expect(p.type).to.be.a('string').and.not.empty;
        pm.expect(p.title).to.be.a('string').and.not.empty;
        pm.expect(p.status).to.eql(pm.response.code);
        pm.expect(p.detail).to.be.a('string');
        if (p.errors !== undefined) {
            pm.expect(p.errors).to.be.an('array');
            p.errors.forEach(function (e) {
                pm.expect(e).to.have.all.keys('field', 'message');
                pm.expect(e.field).to.be.a('string').and.not.empty;
                pm.expect(e.message).to.be.a('string').and.not.empty;
            });
        }
    });
}"""

DESC = """Every route of Poky's REST API (`pokyd`), with example bodies and tests.

Set the environment's `baseUrl` (e.g. `http://127.0.0.1:8080`) and `token` (a token whose hashed line is in pokyd's `tokens_file`: `echo "$T" | pokyd --hash-token postman >> tokens`). Requests authenticate with `Authorization: Bearer {{token}}` (collection-level auth); `/healthz` and `/readyz` are sent without it.

Run the folders in order (Postman's collection runner, or `newman run`): requests chain through collection variables (the submitted task's id, the list cursor) and the `Wait for…` requests repeat themselves with `setNextRequest` until the task ends (at most `pollAttempts` times, `pollDelayMs` apart).

The data are the embedded default's (`make run`): bucket folders `test-poky-input` (holding `test_file.txt`) and `test-poky-output`, template `process_file`. The cancel requests need a template that runs long enough to be cancelled, `{{slowTemplate}}`. `test/postman/run-newman.sh` starts a pokyd configured with both and runs this collection with newman.

The API is described by `GET /openapi.json` (OpenAPI 3.1)."""

collection = {
    "info": {
        "_postman_id": str(uuid.uuid5(NS, "collection")),
        "name": "Poky API",
        "description": DESC,
        "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    },
    "item": [health, auth, templates, tasks, validation, cancel, compat, listing, protocol, watch,
             metrics],
    "auth": {"type": "bearer",
             "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
    "event": [script("prerequest", COMMON_PRE, "collection"),
              script("test", COMMON_TEST, "collection")],
    "variable": [
        {"key": "unknownTaskId", "value": "00000000-0000-7000-8000-000000000000",
         "type": "string", "description": "A well-formed task id no task has."},
        {"key": "idemKey", "value": "", "type": "string",
         "description": "The Idempotency-Key of this run's submit (set by its pre-request script)."},
        {"key": "taskId", "value": "", "type": "string", "description": "The submitted task."},
        {"key": "taskCreatedAt", "value": "", "type": "string"},
        {"key": "slowTaskId", "value": "", "type": "string", "description": "The cancelled task."},
        {"key": "compatTaskId", "value": "", "type": "string",
         "description": "The task behind the form-encoded POST /process_file."},
        {"key": "firstListedId", "value": "", "type": "string"},
        {"key": "firstListedAt", "value": "", "type": "string"},
        {"key": "nextCursor", "value": "", "type": "string"},
        {"key": "pollCount", "value": "0", "type": "string",
         "description": "How many times the current Wait… request has asked."},
    ],
}

environment = {
    "id": str(uuid.uuid5(NS, "environment")),
    "name": "Poky (local)",
    "values": [
        {"key": "baseUrl", "value": "http://127.0.0.1:8080", "type": "default", "enabled": True},
        {"key": "token", "value": "", "type": "secret", "enabled": True},
        {"key": "sourceBucket", "value": "test-poky-input", "type": "default", "enabled": True},
        {"key": "sourceKey", "value": "test_file.txt", "type": "default", "enabled": True},
        {"key": "outputBucket", "value": "test-poky-output", "type": "default", "enabled": True},
        {"key": "slowTemplate", "value": "slow", "type": "default", "enabled": True},
        {"key": "pollAttempts", "value": "60", "type": "default", "enabled": True},
        {"key": "pollDelayMs", "value": "250", "type": "default", "enabled": True},
    ],
    "_postman_variable_scope": "environment",
}

OUT.mkdir(parents=True, exist_ok=True)
(OUT / "poky.postman_collection.json").write_text(json.dumps(collection, indent="\t",
                                                              ensure_ascii=False) + "\n")
(OUT / "poky.postman_environment.json").write_text(json.dumps(environment, indent="\t") + "\n")
print("make-collection: %d requests in %d folders written to %s" % (
    sum(len(f["item"]) for f in collection["item"]), len(collection["item"]), OUT))
