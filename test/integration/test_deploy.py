"""The deploy kit (deploy/), judged by tools nobody here wrote:
- cfn-lint (npm) validates deploy/cloudformation/poky.yaml, its 2019 resource specification
  extended with AWS's current one from @aws-cdk/cfnspec (test/tools/deploy_judges.js);
- every resource type, property (name, shape, required ones) and GetAtt attribute the template
  uses is looked up in @aws-cdk/cfnspec's specification.json; every stack output deploy.sh
  reads exists; the awslogs driver writes to a log group the template creates;
- the task role's policy, rendered as CloudFormation would for the given parameters, is
  evaluated by @cloud-copilot/iam-simulate against the S3 calls poky-worker really makes
  against radosgw (recorded by test/fakes/s3_recorder.py): all Allowed, neighbours denied;
- deploy.sh write-config turns a canned describe-stacks answer into a pokyd.ini that
  `pokyd -t` accepts; deploy.sh is shellcheck-clean.
npm packages: test/npm-tools.sh installs them into test/node_modules.
"""
import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from rgw import rgw  # noqa: F401  (the session fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "fakes"))
from s3_recorder import Recorder  # noqa: E402

TEMPLATE = ROOT / "deploy" / "cloudformation" / "poky.yaml"
DEPLOY_SH = ROOT / "deploy" / "deploy.sh"
JUDGES = ROOT / "test" / "tools" / "deploy_judges.js"
MODULES = ROOT / "test" / "node_modules"
OUTPUTS = ROOT / "test" / "data" / "deploy" / "describe-stacks.json"
ACCOUNT, REGION, STACK = "123456789012", "eu-west-1", "poky"
BASE_PARAMS = {"WorkerImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/poky-worker:1",
               "VpcId": "vpc-0123456789abcdef0",
               "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210"}
MIB = 1 << 20


def need_node_modules():
    for name in ("cfn-lint", "@aws-cdk/cfnspec", "@cloud-copilot/iam-simulate"):
        if not (MODULES / name / "package.json").exists():
            pytest.fail(f"{name} is missing from test/node_modules: run test/npm-tools.sh")
    if shutil.which("node") is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs)")


# ---- the template as data ----------------------------------------------------------------

class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags turned into their long JSON form."""


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path=TEMPLATE):
    return yaml.load(pathlib.Path(path).read_text(), CfnLoader)


def spec():
    return json.loads((MODULES / "@aws-cdk/cfnspec/spec/specification.json").read_text())


def is_intrinsic(v):
    return isinstance(v, dict) and len(v) == 1 and (
        next(iter(v)) == "Ref" or next(iter(v)).startswith("Fn::"))


def check_value(sp, rtype, where, pdef, value, errors):
    """Does value have the shape pdef (a spec property definition) asks for?"""
    if is_intrinsic(value):
        if "Fn::If" in value:
            for branch in value["Fn::If"][1:]:
                if branch != {"Ref": "AWS::NoValue"}:
                    check_value(sp, rtype, where, pdef, branch, errors)
        return
    if "PrimitiveType" in pdef:
        if pdef["PrimitiveType"] != "Json" and isinstance(value, (dict, list)):
            errors.append(f"{where}: want a {pdef['PrimitiveType']}, got {type(value).__name__}")
        return
    kind = pdef.get("Type")
    if kind in ("List", "Map"):
        if (kind == "List") != isinstance(value, list) or (kind == "Map") != isinstance(value, dict):
            errors.append(f"{where}: want a {kind}")
            return
        items = value if kind == "List" else list(value.values())
        item = ({"PrimitiveType": pdef["PrimitiveItemType"]} if "PrimitiveItemType" in pdef
                else {"Type": pdef.get("ItemType")})
        for i, v in enumerate(items):
            check_value(sp, rtype, f"{where}[{i}]", item, v, errors)
        return
    name = f"{rtype}.{kind}"
    sub = sp["PropertyTypes"].get(name)
    if sub is None:
        errors.append(f"{where}: property type {name} is not in the specification")
        return
    if not isinstance(value, dict):
        errors.append(f"{where}: want a {name} object")
        return
    check_properties(sp, rtype, where, sub.get("Properties", {}), value, errors)


def check_properties(sp, rtype, where, pdefs, props, errors):
    for name, value in props.items():
        if name not in pdefs:
            errors.append(f"{where}.{name}: no such property (spec: {', '.join(sorted(pdefs))})")
            continue
        check_value(sp, rtype, f"{where}.{name}", pdefs[name], value, errors)
    for name, pdef in pdefs.items():
        if pdef.get("Required") and name not in props:
            errors.append(f"{where}: required property {name} is missing")


def walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def spec_errors(t, sp):
    """Everything in template t that AWS's resource specification does not have."""
    errors = []
    resources = t["Resources"]
    for name, res in resources.items():
        rspec = sp["ResourceTypes"].get(res["Type"])
        if rspec is None:
            errors.append(f"{name}: resource type {res['Type']} is not in the specification")
            continue
        check_properties(sp, res["Type"], name, rspec.get("Properties", {}),
                         res.get("Properties", {}), errors)
    for node in walk(t):
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            ref, attr = node["Fn::GetAtt"]
            res = resources.get(ref)
            if res is None:
                errors.append(f"GetAtt {ref}.{attr}: no resource {ref}")
            elif attr not in sp["ResourceTypes"].get(res["Type"], {}).get("Attributes", {}):
                errors.append(f"GetAtt {ref}.{attr}: {res['Type']} has no attribute {attr}")
        if isinstance(node, dict) and "Ref" in node and isinstance(node["Ref"], str):
            ref = node["Ref"]
            if not (ref.startswith("AWS::") or ref in resources or ref in t["Parameters"]):
                errors.append(f"Ref {ref}: no such parameter or resource")
    # The awslogs driver: a group this stack creates, never awslogs-create-group (the
    # execution role's managed policy cannot create groups).
    for name, res in resources.items():
        if res["Type"] != "AWS::ECS::TaskDefinition":
            continue
        for c in res["Properties"].get("ContainerDefinitions", []):
            lc = c.get("LogConfiguration", {})
            if lc.get("LogDriver") != "awslogs":
                errors.append(f"{name}: container without the awslogs log driver")
                continue
            opts = lc.get("Options", {})
            if "awslogs-create-group" in opts:
                errors.append(f"{name}: awslogs-create-group needs logs:CreateLogGroup, which "
                              "AmazonECSTaskExecutionRolePolicy does not grant")
            group = opts.get("awslogs-group")
            if not (isinstance(group, dict) and resources.get(group.get("Ref"), {}).get(
                    "Type") == "AWS::Logs::LogGroup"):
                errors.append(f"{name}: awslogs-group is not a log group of this stack")
    return errors


def deploy_sh_outputs():
    """The stack outputs deploy.sh reads."""
    text = DEPLOY_SH.read_text()
    keys = set(re.findall(r'output "\$json" (\w+)', text))
    m = re.search(r"for key in (.*?); do", text, re.S)
    keys |= set(m.group(1).replace("\\", " ").split())
    return keys


def test_template_matches_the_cloudformation_specification():
    need_node_modules()
    errors = spec_errors(load_template(), spec())
    assert errors == []


def test_outputs_deploy_sh_and_docs_rely_on_exist():
    outputs = set(load_template()["Outputs"])
    used = deploy_sh_outputs()
    assert {"ClusterName", "TaskRoleArn", "Subnets"} <= used      # the parse found them
    assert used - outputs == set()
    docs = (ROOT / "docs" / "deploy.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \| output", docs, re.M))
    assert documented, "docs/deploy.md lists no outputs"
    assert documented == outputs


MUTATIONS = {
    "misspelled property": (lambda t: t["Resources"]["LogGroup"]["Properties"].update(
        RetentionInDay=30), "RetentionInDay: no such property"),
    "awslogs-create-group": (lambda t: t["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]["LogConfiguration"]["Options"].update(
        {"awslogs-create-group": "true"}), "awslogs-create-group needs"),
    "unknown GetAtt attribute": (lambda t: t["Outputs"]["TaskRoleArn"].update(
        Value={"Fn::GetAtt": ["TaskRole", "RoleArn"]}), "has no attribute RoleArn"),
    "required property missing": (lambda t: t["Resources"]["SecurityGroup"]["Properties"].pop(
        "GroupDescription"), "required property GroupDescription"),
    "list where a struct belongs": (lambda t: t["Resources"]["TaskDefinition"]["Properties"].update(
        RuntimePlatform=["LINUX"]), "want a AWS::ECS::TaskDefinition.RuntimePlatform"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_spec_check_catches(name):
    need_node_modules()
    t = load_template()
    mutate, want = MUTATIONS[name]
    mutate(t)
    errors = spec_errors(t, spec())
    assert any(want in e for e in errors), errors


def cfn_lint(template_path, params, tmp_path):
    pfile = tmp_path / "params.json"
    pfile.write_text(json.dumps(params))
    p = subprocess.run(["node", str(JUDGES), "lint", str(template_path), str(pfile)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("extra", [
    {},
    {"UseFargateSpot": "true", "VersionedBuckets": "true", "AllowMoves": "false"},
    {"InputBucketName": "their-input", "OutputBucketName": "their.output", "TaskCpu": "1024",
     "TaskMemory": "2048", "CpuArchitecture": "ARM64", "AssignPublicIp": "DISABLED"},
], ids=["defaults", "spot-versioned-nomoves", "existing-buckets-arm"])
def test_cfn_lint_finds_no_errors(extra, tmp_path):
    need_node_modules()
    out = cfn_lint(TEMPLATE, dict(BASE_PARAMS, **extra), tmp_path)
    assert out["errors"] == []


def test_cfn_lint_catches_a_misspelled_property(tmp_path):
    need_node_modules()
    t = load_template()
    t["Resources"]["TaskDefinition"]["Properties"]["RuntimePlatfrom"] = \
        t["Resources"]["TaskDefinition"]["Properties"].pop("RuntimePlatform")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(t))
    out = cfn_lint(bad, BASE_PARAMS, tmp_path)
    assert any("RuntimePlatfrom" in e for e in out["errors"]), out


# ---- the task role's policy, as CloudFormation renders it -----------------------------------

class Renderer:
    def __init__(self, t, params):
        self.t = t
        self.params = {k: v.get("Default") for k, v in t["Parameters"].items()}
        self.params.update(params)
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION,
                       "AWS::Partition": "aws", "AWS::StackName": STACK}
        self.conds = {}

    def cond(self, name):
        if name not in self.conds:
            self.conds[name] = self.boolean(self.t["Conditions"][name])
        return self.conds[name]

    def boolean(self, c):
        (fn, arg), = c.items()
        if fn == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if fn == "Fn::And":
            return all(self.boolean(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.boolean(a) for a in arg)
        if fn == "Fn::Not":
            return not self.boolean(arg[0])
        if fn == "Condition":
            return self.cond(arg)
        raise AssertionError(f"condition {fn} not understood")

    NOVALUE = object()

    def ref(self, name):
        if name == "AWS::NoValue":
            return self.NOVALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        # A resource: its physical id, as CloudFormation would name a bucket.
        return f"{STACK}-{name.lower()}-1a2b3c4d5e6f"

    def value(self, v):
        if isinstance(v, list):
            out = [self.value(x) for x in v]
            return [x for x in out if x is not self.NOVALUE]
        if not isinstance(v, dict):
            return v
        if "Ref" in v:
            return self.ref(v["Ref"])
        if "Fn::If" in v:
            name, yes, no = v["Fn::If"]
            return self.value(yes if self.cond(name) else no)
        if "Fn::Sub" in v:
            arg = v["Fn::Sub"]
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))
            return re.sub(r"\$\{([\w:]+)\}",
                          lambda m: str(names[m.group(1)] if m.group(1) in names
                                        else self.ref(m.group(1))), text)
        if "Fn::GetAtt" in v:
            return "arn:aws:mock:" + ".".join(v["Fn::GetAtt"])
        if "Condition" in v and len(v) == 1:
            return self.cond(v["Condition"])
        return {k: self.value(x) for k, x in v.items()}

    def task_role_policy(self):
        """Every statement the task role gets: its inline policies and the AWS::IAM::Policy
        resources attached to it whose condition holds, as one document."""
        statements = []
        role = self.t["Resources"]["TaskRole"]["Properties"]
        for pol in role.get("Policies", []):
            statements += self.value(pol["PolicyDocument"])["Statement"]
        for res in self.t["Resources"].values():
            if res["Type"] != "AWS::IAM::Policy":
                continue
            if "Condition" in res and not self.cond(res["Condition"]):
                continue
            if {"Ref": "TaskRole"} in res["Properties"]["Roles"]:
                statements += self.value(res["Properties"]["PolicyDocument"])["Statement"]
        return {"Version": "2012-10-17", "Statement": statements}


def test_renderer_sees_the_conditions():
    t = load_template()
    moves = json.dumps(Renderer(t, BASE_PARAMS).task_role_policy())
    none = json.dumps(Renderer(t, dict(BASE_PARAMS, AllowMoves="false")).task_role_policy())
    versioned = json.dumps(Renderer(t, dict(BASE_PARAMS, VersionedBuckets="true"))
                           .task_role_policy())
    assert "s3:DeleteObject" in moves and "s3:DeleteObject" not in none
    assert "Version\"" not in moves.replace('"Version": "2012', "")
    assert "s3:GetObjectVersion" in versioned and "s3:DeleteObjectVersion" in versioned
    assert "poky-inputbucket-1a2b3c4d5e6f/*" in moves          # a bucket the stack made


def actions_of(call):
    """The IAM actions and resources S3 authorizes one recorded call against (the S3 docs'
    "Actions, resources and condition keys" table)."""
    b, k, v = call["bucket"], call["key"], call["version_id"]
    obj, bucket = f"arn:aws:s3:::{b}/{k}", f"arn:aws:s3:::{b}"
    op = call["op"]
    if op in ("HeadObject", "GetObject"):
        out = [("s3:GetObjectVersion" if v else "s3:GetObject", obj)]
        if call["status"] == 404:
            # S3 answers 404 for a missing key only to a caller with s3:ListBucket (403
            # otherwise), and the worker needs the 404 to say "not found".
            out.append(("s3:ListBucket", bucket))
        return out
    if op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        return [("s3:PutObject", obj)]
    if op in ("CopyObject", "UploadPartCopy"):
        src, _, query = call["copy_source"].lstrip("/").partition("?")
        read = "s3:GetObjectVersion" if "versionId=" in query else "s3:GetObject"
        return [("s3:PutObject", obj), (read, f"arn:aws:s3:::{src}")]
    if op == "AbortMultipartUpload":
        return [("s3:AbortMultipartUpload", obj)]
    if op == "ListMultipartUploads":
        return [("s3:ListBucketMultipartUploads", bucket)]
    if op == "ListParts":
        return [("s3:ListMultipartUploadParts", obj)]
    if op == "DeleteObject":
        return [("s3:DeleteObjectVersion" if v else "s3:DeleteObject", obj)]
    raise AssertionError(f"the worker made a call this table does not know: {call}")


def simulate(policy, requests, tmp_path):
    f = tmp_path / "requests.json"
    f.write_text(json.dumps([{"policy": policy, "action": a, "resource": r,
                              "account": ACCOUNT} for a, r in requests]))
    p = subprocess.run(["node", str(JUDGES), "simulate", str(f)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return {(x["action"], x["resource"]): x["result"] for x in json.loads(p.stdout)}


@pytest.fixture(scope="module")
def recorder(rgw):  # noqa: F811
    rec = Recorder(rgw.endpoint).start()
    yield rec
    rec.stop()


def run_worker(bindir, rgw, rec, **env):  # noqa: F811
    e = rgw.worker_env(AWS_ENDPOINT_URL_S3=rec.endpoint, **env)
    p = subprocess.run([str(bindir / "poky-worker")], env=e, capture_output=True, text=True,
                       timeout=300)
    return p


def scenario(name, bindir, rgw, rec):  # noqa: F811
    """Run the worker for one scenario; return (exit code, calls, buckets, versioned)."""
    versioned = name == "versioned-move"
    src, dst = rgw.make_bucket(versioned=versioned), rgw.make_bucket()
    env = {"SOURCE_BUCKET": src, "OUTPUT_BUCKET": dst, "SOURCE_KEY": "in/doc.txt"}
    if name in ("multipart-copy", "stream-multipart"):
        rgw.put(src, "in/doc.txt", os.urandom(12 * MIB), "application/x-poky")
        env.update(POKY_MULTIPART_THRESHOLD=str(8 * MIB), POKY_PART_SIZE=str(5 * MIB))
    elif name != "missing-source":
        if versioned:
            rgw.put(src, "in/doc.txt", b"version one")
        rgw.put(src, "in/doc.txt", b"hello, poky", "text/plain")
    if name == "stream-multipart":
        env["POKY_SOURCE_ENDPOINT_URL_S3"] = rec.endpoint.replace("127.0.0.1", "localhost")
    if name in ("move", "versioned-move"):
        env["DELETE_SOURCE"] = "true"
    rec.take()
    p = run_worker(bindir, rgw, rec, **env)
    return p, rec.take(), src, dst, versioned


SCENARIOS = {"copy": (0, {"CopyObject"}),
             "multipart-copy": (0, {"UploadPartCopy", "ListMultipartUploads"}),
             "stream-multipart": (0, {"GetObject", "UploadPart"}),
             "move": (0, {"DeleteObject"}),
             "versioned-move": (0, {"DeleteObject"}),
             "missing-source": (3, {"HeadObject"})}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_task_role_allows_every_call_the_worker_makes(name, bindir, rgw, recorder,  # noqa: F811
                                                      tmp_path):
    need_node_modules()
    p, calls, src, dst, versioned = scenario(name, bindir, rgw, recorder)
    want_rc, want_ops = SCENARIOS[name]
    assert p.returncode == want_rc, (p.stdout, p.stderr)
    assert want_ops <= {c["op"] for c in calls}, calls
    if name == "versioned-move":
        assert any(c["op"] == "DeleteObject" and c["version_id"] for c in calls), calls
    params = dict(BASE_PARAMS, InputBucketName=src, OutputBucketName=dst,
                  VersionedBuckets="true" if versioned else "false")
    policy = Renderer(load_template(), params).task_role_policy()
    requests = sorted({ar for c in calls for ar in actions_of(c)})
    # Neighbours: another bucket, and a delete in the output bucket.
    denied = [("s3:GetObject", "arn:aws:s3:::neighbour-bucket/in/doc.txt"),
              ("s3:PutObject", "arn:aws:s3:::neighbour-bucket/x"),
              ("s3:DeleteObject", f"arn:aws:s3:::{dst}/x"),
              ("s3:ListBucketMultipartUploads", "arn:aws:s3:::neighbour-bucket")]
    got = simulate(policy, requests + denied, tmp_path)
    assert {r: got[r] for r in requests} == {r: "Allowed" for r in requests}
    assert {r: got[r] for r in denied} == {r: "ImplicitlyDenied" for r in denied}
    if name == "multipart-copy":
        # The judge can tell: without its statement, the sweep's call is refused.
        weaker = copy.deepcopy(policy)
        weaker["Statement"] = [s for s in weaker["Statement"]
                               if s.get("Sid") != "SweepOutputUploads"]
        sweep = ("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{dst}")
        assert simulate(weaker, [sweep], tmp_path)[sweep] == "ImplicitlyDenied"
    if name == "move":
        nomoves = Renderer(load_template(), dict(params, AllowMoves="false")).task_role_policy()
        delete = ("s3:DeleteObject", f"arn:aws:s3:::{src}/in/doc.txt")
        assert simulate(nomoves, [delete], tmp_path)[delete] == "ImplicitlyDenied"
    if name == "versioned-move":
        unversioned = Renderer(load_template(), dict(params, VersionedBuckets="false"))
        versions = [r for r in requests if r[0].endswith("Version")]
        assert versions
        got = simulate(unversioned.task_role_policy(), versions, tmp_path)
        assert set(got.values()) == {"ImplicitlyDenied"}


# ---- deploy.sh -----------------------------------------------------------------------------

def test_deploy_sh_is_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (Debian: apt-get install shellcheck)")
    p = subprocess.run(["shellcheck", str(DEPLOY_SH)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def write_config(tmp_path, outputs_doc, tokens=True):
    tok = tmp_path / "tokens"
    if tokens:
        tok.write_text("")
    src = tmp_path / "outputs.json"
    src.write_text(json.dumps(outputs_doc))
    ini = tmp_path / "pokyd.ini"
    p = subprocess.run([str(DEPLOY_SH), "write-config", str(src), str(ini)],
                       env=dict(os.environ, TOKENS_FILE=str(tok)), capture_output=True,
                       text=True, timeout=60)
    return p, ini


def set_output(doc, key, value):
    doc = copy.deepcopy(doc)
    for o in doc["Stacks"][0]["Outputs"]:
        if o["OutputKey"] == key:
            o["OutputValue"] = value
    return doc


def test_write_config_makes_an_ini_pokyd_accepts(tmp_path, bindir):
    doc = json.loads(OUTPUTS.read_text())
    p, ini = write_config(tmp_path, doc)
    assert p.returncode == 0, p.stderr
    text = ini.read_text()
    outs = {o["OutputKey"]: o["OutputValue"] for o in doc["Stacks"][0]["Outputs"]}
    for key, output in [("cluster", "ClusterName"), ("task_definition", "TaskDefinitionFamily"),
                        ("container", "ContainerName"), ("subnets", "Subnets"),
                        ("security_groups", "SecurityGroup"), ("task_role_arn", "TaskRoleArn"),
                        ("execution_role_arn", "ExecutionRoleArn"),
                        ("assign_public_ip", "AssignPublicIp"),
                        ("log_group", "LogGroupName"),
                        ("log_stream_prefix", "LogStreamPrefix")]:
        assert f"\n{key} = {outs[output]}\n" in text
    assert "\nregion = eu-west-1\n" in text and "launch_type = FARGATE" in text
    assert r"pattern=^poky\.output\.example$" in text
    assert "param.delete_source" in text
    t = subprocess.run([str(bindir / "pokyd"), "-t", "-c", str(ini)], capture_output=True,
                       text=True, timeout=30)
    assert t.returncode == 0 and "configuration OK" in t.stdout, t.stderr
    pol = subprocess.run([str(DEPLOY_SH), "policy", str(ini)], capture_output=True, text=True,
                         env=dict(os.environ, POKYD=str(bindir / "pokyd")), timeout=30)
    assert pol.returncode == 0, pol.stderr
    policy = json.loads(pol.stdout)
    roles = [s for s in policy["Statement"] if s["Sid"] == "PokyPassTaskRoles"][0]
    assert sorted(roles["Resource"]) == sorted([outs["TaskRoleArn"], outs["ExecutionRoleArn"]])


def test_write_config_spot_and_no_moves(tmp_path, bindir):
    doc = set_output(json.loads(OUTPUTS.read_text()), "CapacityProviders",
                     "FARGATE_SPOT, FARGATE")
    doc = set_output(doc, "AllowMoves", "false")
    p, ini = write_config(tmp_path, doc)
    assert p.returncode == 0, p.stderr
    text = ini.read_text()
    assert "capacity_providers = FARGATE_SPOT, FARGATE" in text
    assert "launch_type" not in text and "delete_source" not in text
    t = subprocess.run([str(bindir / "pokyd"), "-t", "-c", str(ini)], capture_output=True,
                       text=True, timeout=30)
    assert t.returncode == 0, t.stderr


def test_write_config_refuses_outputs_of_another_stack(tmp_path):
    doc = json.loads(OUTPUTS.read_text())
    doc["Stacks"][0]["Outputs"] = [o for o in doc["Stacks"][0]["Outputs"]
                                   if o["OutputKey"] != "TaskRoleArn"]
    p, ini = write_config(tmp_path, doc)
    assert p.returncode == 1 and "no output TaskRoleArn" in p.stderr
    assert not ini.exists()


def test_docs_offline_commands_run_as_written(tmp_path, bindir):
    """docs/deploy.md's offline block, run line by line from the clone (its /tmp file moved
    under tmp_path, build/ pointed at the binaries under test)."""
    docs = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", docs, re.S)
    offline = [b for b in blocks if "write-config" in b]
    assert len(offline) == 1
    lines = offline[0].strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        line = line.replace("/tmp/pokyd.ini", str(tmp_path / "pokyd.ini"))
        line = line.replace("build/pokyd", str(bindir / "pokyd"))
        p = subprocess.run(line, shell=True, cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, (line, p.stderr)
    assert json.loads(p.stdout)["Statement"]            # the policy was printed
    assert "deploy/deploy.sh up STACK VPC_ID SUBNET_IDS" in (ROOT / "README.md").read_text()
