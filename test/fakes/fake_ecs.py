#!/usr/bin/python3
"""Fake Amazon ECS endpoint (JSON 1.1) for Poky's tests; botocore is the judge.

    /usr/bin/python3 test/fakes/fake_ecs.py --port 0 --port-file FILE [--creds-file FILE]

Service: POST / with Content-Type application/x-amz-json-1.1 and
X-Amz-Target AmazonEC2ContainerServiceV20141113.{RunTask,DescribeTasks,StopTask,ListTasks,
DescribeTaskDefinition},
SigV4 for service "ecs" (checked by botocore, see common.py), bodies validated against the ECS
model shipped in python3-botocore (patched: that 1.29 model predates RunTask.clientToken, which
is added as an optional String) plus the AWS rules of AWS-NOTES.md.

Behaviour worth knowing (all steerable below):
  * Faults (POST /_fake/faults) match the op names RunTask, DescribeTasks, StopTask, ListTasks.
  * JSON nulls in a body are treated as absent (as AWS JSON services do) before validation.
  * FARGATE needs networkConfiguration.awsvpcConfiguration.subnets; no launchType and no
    capacityProviderStrategy means EC2, which fails "No Container Instances were found".
  * clientToken: same token + same body (per cluster) → the same tasks (or the same failures)
    again, nothing new launched; same token + different body → 400 ConflictException.
  * A container gets an exitCode only if its task reached RUNNING (config exit_code, or 143
    after StopTask); a task stopped before RUNNING has containers without exitCode.
  * Errors: HTTP 400 JSON {"__type": "...", "message": "..."}; signature problems are
    InvalidSignatureException / UnrecognizedClientException / IncompleteSignatureException /
    MissingAuthenticationTokenException / ExpiredTokenException (all HTTP 400).

Config (POST /_fake/config, shallow merge; defaults in DEFAULT_CONFIG below):
  region, account_id, credentials, session_tokens, clock_skew_seconds   (see common.py)
  clusters                 known cluster names (else ClusterNotFoundException)
  task_definitions         null: any "family[:rev]" or task-definition ARN;
                           list: only those ("family" matches every revision);
                           dict {"family[:rev]": {"containers": ["name", ...]}}: also checks
                           containerOverrides names against the containers; an entry's
                           "logConfiguration" ({"logDriver": "awslogs", "options": {...}}) is
                           every container's in DescribeTaskDefinition (none without it)
  container_names          containers of a task when neither the task definition (dict form)
                           nor containerOverrides name them
  capacity_providers       capacity providers the clusters know
  require_network_configuration  FARGATE needs networkConfiguration.awsvpcConfiguration
  run_failures             [{"reason": ..., "arn"?: ...}] → RunTask answers 200, tasks [] + these
  capacity_unavailable     ["FARGATE_SPOT"] → RunTask on that provider fails with the
                           "Capacity is unavailable at this time..." failure
  progression              [[status, seconds after creation], ...]  (PROVISIONING before)
  exit_code / stop_code / stopped_reason / container_reason   end state (snapshotted per task
                           at RunTask; exit_code only if the task reached RUNNING; null = none)
  stop_delay               seconds from StopTask to STOPPED (0 = at once; else STOPPING first)
  forget_after             seconds after stoppedAt a task becomes MISSING (null = never)
  error_type_prefix        e.g. "com.amazonaws.ecs#" to prefix every __type
  error_message_key        "message" (default) or "Message"
Extra control endpoints:
  GET  /_fake/tasks                    every task, full state (+ internal fields)
  POST /_fake/tasks/<id-or-arn>        {"lastStatus", "exitCode", "stopCode", "stoppedReason",
                                        "containerReason", "forget": true}; lastStatus pins the
                                        task in that state from now on
  GET  /_fake/launches                 {"total_tasks_created", "by_client_token": {token: n},
                                        "run_task_calls_creating_tasks"}
  GET  /_fake/launches?calls=1         the same plus
                                       {"run_task_calls": every RunTask request received
                                        (throttled, faulted and refused ones included),
                                        "run_task_throttled": those refused by the "throttle"
                                        bucket, "calls_by_client_token": {token: RunTask
                                        requests carrying it}, "double_launches": tokens that
                                        created tasks more than once (must stay 0)}
                                       by_client_token counts RunTask calls that CREATED tasks
                                       with that token (a same-token repeat answered from the
                                       first launch is not counted): > 1 is a double launch.
  Steady latency and throttling: config "latency" / "throttle" (see common.py), e.g.
  {"latency": {"RunTask": 0.3, "DescribeTasks": 0.05},
   "throttle": {"RunTask": {"rate": 20, "burst": 100}}}: a throttled RunTask answers HTTP 400
  {"__type": "ThrottlingException", "message": "Rate exceeded"}, as ECS does.
  GET  /_fake/stops                    every StopTask: {taskArn, reason, time}
Call log (/_fake/calls): each RunTask, DescribeTasks and StopTask call also has "authz", what
IAM authorizes it on: {"cluster_arn", "task_definition_arn" (RunTask: the revision ECS ran),
"task_arns" (RunTask: the tasks it created; else the tasks named)}, or null when the request
was refused before that was known; DescribeTaskDefinition's is {"task_definition_arn"} (IAM
authorizes it on "*").  DescribeTaskDefinition answers are checked against the model's output
shape (a malformed one is the fake's bug: HTTP 500).
"""

import base64
import copy
import hashlib
import json
import re
import sys
import threading
import uuid

try:
    from . import common
except ImportError:
    import common

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
OPERATIONS = ("RunTask", "DescribeTasks", "StopTask", "ListTasks", "DescribeTaskDefinition")
JSON_CT = "application/x-amz-json-1.1"
STATUS_ORDER = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
                "DEPROVISIONING", "STOPPED"]
CAPACITY_MESSAGE = ("Capacity is unavailable at this time. Please try again later or in a "
                    "different availability zone")
TASKDEF_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+(:\d+)?$")
TASKDEF_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/"
                            r"([A-Za-z0-9_-]+)(?::(\d+))?$")
STARTED_BY_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
UNSET = object()

_MODEL = None
_MODEL_LOCK = threading.Lock()


def _patch_model(raw):
    members = raw["shapes"]["RunTaskRequest"]["members"]
    if "clientToken" not in members:
        members["clientToken"] = {
            "shape": "String", "idempotencyToken": True,
            "documentation": "Added by fake_ecs: newer ECS models have it; up to 64 ASCII chars."}


def service_model():
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = common.load_service_model("ecs", _patch_model)
        return _MODEL


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


class EcsApp(common.FakeApp):
    name = "fake_ecs"
    signing_service = "ecs"
    DEFAULT_CONFIG = {
        "clusters": ["default", "poky-cluster"],
        "task_definitions": None,
        "container_names": ["app"],
        "capacity_providers": ["FARGATE", "FARGATE_SPOT"],
        "require_network_configuration": True,
        "run_failures": [],
        "capacity_unavailable": [],
        "progression": [["PENDING", 0.2], ["RUNNING", 0.4], ["STOPPED", 0.8]],
        "exit_code": 0,
        "stop_code": "EssentialContainerExited",
        "stopped_reason": "Essential container in task exited",
        "container_reason": None,
        "stop_delay": 0,
        "forget_after": None,
        "error_type_prefix": "",
        "error_message_key": "message",
    }

    def reset_state(self):
        self.tasks = {}            # arn -> task record
        self.task_order = []       # arns in creation order
        self.tokens = {}           # (cluster_arn, token) -> {"request", "task_arns", "failures"}
        self.launches = {"total_tasks_created": 0, "by_client_token": {},
                         "run_task_calls_creating_tasks": 0}
        self.run_task_calls = 0
        self.calls_by_token = {}   # clientToken -> RunTask requests carrying it
        self.stops = []

    def record_extra(self, req, call):
        # The operation fills call["authz"] with what IAM would see (see _authz).
        req.call = call
        call["authz"] = None
        # Every RunTask request counts, whatever becomes of it (throttled, faulted, refused):
        # "RunTask calls per task" is what a launcher costs against the account's limit.
        if call["op"] != "RunTask":
            return
        body = call["body"]
        token = body.get("clientToken") if isinstance(body, dict) else None
        with self.lock:
            self.run_task_calls += 1
            if isinstance(token, str):
                self.calls_by_token[token] = self.calls_by_token.get(token, 0) + 1

    # ------------------------------------------------------------------ protocol
    def error_response(self, status, code, message, req):
        cfg = self.config
        body = {"__type": (cfg.get("error_type_prefix") or "") + code,
                cfg.get("error_message_key") or "message": message}
        return common.json_response(body, status, JSON_CT)

    def auth_error(self, failure, req):
        kind = failure.kind
        code = {"missing": "MissingAuthenticationTokenException",
                "incomplete": "IncompleteSignatureException",
                "unknown_key": "UnrecognizedClientException",
                "bad_token": "UnrecognizedClientException",
                "expired_token": "ExpiredTokenException"}.get(kind, "InvalidSignatureException")
        return self.error_response(400, code, failure.message, req)

    def fault_error_type(self, status):
        return "ServerException" if status >= 500 else "ClientException"

    def _authz(self, req, **fields):
        """Record in the call log what AWS authorizes the call on: the cluster ARN, the task
        definition ARN ECS resolved, the tasks it named or created."""
        call = getattr(req, "call", None)
        if call is not None:
            call["authz"] = fields

    def fault_failures(self, failures, req, op):
        return common.json_response({"tasks": [], "failures": failures}, 200, JSON_CT)

    def classify(self, req):
        target = req.header("x-amz-target") or ""
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else (target or None)
        return op, True

    def handle_op(self, req, op):
        if req.method != "POST" or req.raw_path != "/":
            raise common.ApiError(400, "UnknownOperationException",
                                  "ECS accepts only POST / (got %s %s)" % (req.method, req.raw_path))
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != JSON_CT:
            raise common.ApiError(400, "SerializationException",
                                  "Content-Type must be %s (got %r)" % (JSON_CT, ctype or None))
        target = req.header("x-amz-target") or ""
        if not target.startswith(TARGET_PREFIX) or op not in OPERATIONS:
            raise common.ApiError(400, "UnknownOperationException",
                                  "Unknown or unsupported operation %r" % target)
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise common.ApiError(400, "SerializationException",
                                  "Could not parse the request body as JSON: %s" % exc)
        if not isinstance(body, dict):
            raise common.ApiError(400, "SerializationException",
                                  "The request body must be a JSON object")
        body = _drop_nulls(body)     # AWS JSON services treat "member": null as absent
        report = common.model_validate(body, service_model().operation_model(op).input_shape)
        if report:
            raise common.ApiError(400, "InvalidParameterException", report)
        with self.lock:
            result = getattr(self, "op_" + op)(body, req)
        return common.json_response(result, 200, JSON_CT)

    # ------------------------------------------------------------------ helpers
    def _arn(self, kind, rest):
        return "arn:aws:ecs:%s:%s:%s/%s" % (self.config["region"], self.config["account_id"],
                                            kind, rest)

    def _cluster(self, ref):
        ref = ref or "default"
        name = ref
        m = re.match(r"^arn:aws[a-z-]*:ecs:([a-z0-9-]+):(\d{12}):cluster/(.+)$", ref)
        if m:
            if m.group(1) != self.config["region"] or m.group(2) != self.config["account_id"]:
                raise common.ApiError(400, "ClusterNotFoundException", "Cluster not found.")
            name = m.group(3)
        if name not in (self.config.get("clusters") or []):
            raise common.ApiError(400, "ClusterNotFoundException", "Cluster not found.")
        return name, self._arn("cluster", name)

    def _task_definition_entry(self, family, rev):
        known = self.config.get("task_definitions")
        if not isinstance(known, dict):
            return {}
        for key, info in known.items():
            km = TASKDEF_ARN_RE.match(key)
            kfam, krev = (km.group(1), km.group(2)) if km else (key.partition(":")[0],
                                                                 key.partition(":")[2] or None)
            if kfam == family and (rev is None or krev is None or krev == rev):
                return info or {}
        return {}

    def op_DescribeTaskDefinition(self, body, req):
        family, rev, arn, containers = self._task_definition(body["taskDefinition"])
        self._authz(req, task_definition_arn=arn)
        entry = self._task_definition_entry(family, rev)
        names = containers or self.config.get("container_names") or ["app"]
        defs = []
        for name in names:
            cd = {"name": name, "image": "poky-worker:test", "essential": True,
                  "environment": []}
            if entry.get("logConfiguration"):
                cd["logConfiguration"] = copy.deepcopy(entry["logConfiguration"])
            defs.append(cd)
        out = {"taskDefinition": {
            "taskDefinitionArn": arn, "family": family, "revision": int(rev),
            "containerDefinitions": defs, "status": "ACTIVE",
            "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512"}}
        report = common.model_validate(
            out, service_model().operation_model("DescribeTaskDefinition").output_shape)
        if report:
            raise common.ApiError(500, "ServerException", "fake_ecs answer invalid: " + report)
        return out

    def _task_definition(self, ref):
        m = TASKDEF_ARN_RE.match(ref)
        if m:
            family, rev = m.group(1), m.group(2)
        elif TASKDEF_NAME_RE.match(ref):
            family, _, rev = ref.partition(":")
            rev = rev or None
        else:
            raise common.ApiError(400, "ClientException", "Unable to describe task definition.")
        known = self.config.get("task_definitions")
        containers = None
        if known is not None:
            entries = known.items() if isinstance(known, dict) else [(k, {}) for k in known]
            match = None
            for key, info in entries:
                km = TASKDEF_ARN_RE.match(key)
                kfam, krev = (km.group(1), km.group(2)) if km else (key.partition(":")[0],
                                                                     key.partition(":")[2] or None)
                if kfam == family and (rev is None or krev is None or krev == rev):
                    match = (krev, info or {})
                    break
            if match is None:
                raise common.ApiError(400, "ClientException", "Unable to describe task definition.")
            rev = rev or match[0]
            containers = match[1].get("containers")
        rev = rev or "1"
        return family, rev, self._arn("task-definition", "%s:%s" % (family, rev)), containers

    def _find_task(self, cluster_name, ref):
        tid = ref.rsplit("/", 1)[-1]
        arn = self._arn("task", "%s/%s" % (cluster_name, tid))
        task = self.tasks.get(arn)
        if task is None or task["forgotten"]:
            return arn, None
        if ref.startswith("arn:") and ref != arn:
            return ref, None
        now = self.now()
        fa = self.config.get("forget_after")
        if fa is not None:
            stopped_at = self._reached(task, now).get("STOPPED")
            if stopped_at is not None and now - stopped_at > float(fa):
                return arn, None
        return arn, task

    @staticmethod
    def _reached(task, now):
        first = {}
        for status, t in task["timeline"]:
            if t <= now and status not in first:
                first[status] = t
        return first

    @staticmethod
    def _status(task, now):
        status = "PROVISIONING"
        for st, t in task["timeline"]:
            if t <= now:
                status = st
        return status

    def _view(self, task, include_tags=True):
        now = self.now()
        status = self._status(task, now)
        order = STATUS_ORDER.index(status) if status in STATUS_ORDER else 0
        reached = self._reached(task, now)
        ran = "RUNNING" in reached
        stop_req = task["stop_request"]
        stopping = stop_req is not None or order >= STATUS_ORDER.index("DEACTIVATING")
        view = {
            "attachments": [],
            "attributes": [],
            "availabilityZone": self.config["region"] + "a",
            "clusterArn": task["cluster_arn"],
            "containers": [],
            "cpu": "256",
            "createdAt": task["created"],
            "desiredStatus": "STOPPED" if stopping else "RUNNING",
            "enableExecuteCommand": task["enable_execute_command"],
            "group": task["group"],
            "healthStatus": "UNKNOWN",
            "lastStatus": status,
            "memory": "512",
            "overrides": copy.deepcopy(task["overrides"]),
            "taskArn": task["arn"],
            "taskDefinitionArn": task["td_arn"],
            "version": 1 + len([1 for _, t in task["timeline"] if t <= now]),
            "ephemeralStorage": {"sizeInGiB": 20},
        }
        if task["launch_type"]:
            view["launchType"] = task["launch_type"]
        if task["capacity_provider"]:
            view["capacityProviderName"] = task["capacity_provider"]
        if task["launch_type"] == "FARGATE":
            view["platformVersion"] = task["platform_version"]
            view["platformFamily"] = "Linux"
            view["attachments"] = [{
                "id": task["attachment_id"], "type": "ElasticNetworkInterface",
                "status": "ATTACHED" if "PENDING" in reached and "STOPPED" not in reached
                else ("DELETED" if "STOPPED" in reached else "PRECREATED"),
                "details": [{"name": "subnetId", "value": task["subnet"]},
                            {"name": "privateIPv4Address", "value": task["private_ip"]}]}]
        if task["started_by"] is not None:
            view["startedBy"] = task["started_by"]
        if include_tags and task["tags"]:
            view["tags"] = copy.deepcopy(task["tags"])
        if "PENDING" in reached:
            view["connectivity"] = "CONNECTED"
            view["connectivityAt"] = reached["PENDING"]
            view["pullStartedAt"] = reached["PENDING"]
        if ran:
            view["pullStoppedAt"] = reached["RUNNING"]
            view["startedAt"] = reached["RUNNING"]
        if stopping:
            times = [reached[s] for s in STATUS_ORDER[4:] if s in reached]
            if stop_req is not None:
                times.append(stop_req["time"])
            view["stoppingAt"] = min(times) if times else now
            if stop_req is not None:
                view["stopCode"] = "UserInitiated"
                view["stoppedReason"] = stop_req["reason"]
            else:
                view["stopCode"] = task["stop_code"]
                view["stoppedReason"] = task["stopped_reason"]
            if task["override_stop_code"] is not UNSET:
                view["stopCode"] = task["override_stop_code"]
            if task["override_stopped_reason"] is not UNSET:
                view["stoppedReason"] = task["override_stopped_reason"]
            for key in ("stopCode", "stoppedReason"):
                if view.get(key) is None:
                    view.pop(key, None)
        if "STOPPED" in reached:
            view["stoppedAt"] = reached["STOPPED"]
            if ran:
                view["executionStoppedAt"] = reached["STOPPED"]
        if order < STATUS_ORDER.index("RUNNING"):
            cstatus = "PENDING"
        elif order < STATUS_ORDER.index("DEPROVISIONING"):
            cstatus = "RUNNING"
        else:
            cstatus = "STOPPED"
        if status == "STOPPED" or status == "DEPROVISIONING":
            cstatus = "STOPPED"
        for i, name in enumerate(task["containers"]):
            c = {"containerArn": self._arn("container", "%s/%s/%s" % (
                    task["cluster"], task["id"], task["container_ids"][i])),
                 "taskArn": task["arn"], "name": name,
                 "image": "%s.dkr.ecr.%s.amazonaws.com/%s:latest" % (
                     self.config["account_id"], self.config["region"], task["family"]),
                 "lastStatus": cstatus, "networkInterfaces": [], "healthStatus": "UNKNOWN",
                 "cpu": "0"}
            if ran:
                c["runtimeId"] = "%s-%s" % (task["id"], task["container_ids"][i][:10])
                c["imageDigest"] = "sha256:" + hashlib.sha256(task["family"].encode()).hexdigest()
            if cstatus == "STOPPED":
                if task["override_exit_code"] is not UNSET:
                    code = task["override_exit_code"]
                elif not ran:
                    code = None
                elif stop_req is not None:
                    code = 143
                else:
                    code = task["exit_code"]
                if code is not None:
                    c["exitCode"] = code
                reason = task["container_reason"]
                if task["override_container_reason"] is not UNSET:
                    reason = task["override_container_reason"]
                if reason is not None:
                    c["reason"] = reason
            view["containers"].append(c)
        return view

    # ------------------------------------------------------------------ operations
    def op_RunTask(self, body, req):
        cluster_name, cluster_arn = self._cluster(body.get("cluster"))
        count = body.get("count", 1)
        if not 1 <= count <= 10:
            raise common.ApiError(400, "InvalidParameterException",
                                  "count must be between 1 and 10 (got %d)." % count)
        launch_type = body.get("launchType")
        strategy = body.get("capacityProviderStrategy")
        if launch_type and strategy:
            raise common.ApiError(400, "InvalidParameterException",
                                  "Specifying both a launch type and capacity provider strategy "
                                  "is not supported. Remove one and try again.")
        token = body.get("clientToken")
        if token is not None and (not 1 <= len(token) <= 64
                                  or not all(0x20 <= ord(ch) <= 0x7e for ch in token)):
            raise common.ApiError(400, "InvalidParameterException",
                                  "clientToken must be 1 to 64 printable ASCII characters.")
        overrides = body.get("overrides")
        if overrides is not None:
            size = len(json.dumps(overrides, separators=(",", ":"), ensure_ascii=False))
            if size > 8192:
                raise common.ApiError(400, "InvalidParameterException",
                                      "Container Overrides length must be at most 8192 "
                                      "(got %d)." % size)
        started_by = body.get("startedBy")
        if started_by is not None and not STARTED_BY_RE.match(started_by):
            raise common.ApiError(400, "InvalidParameterException",
                                  "startedBy must be up to 36 letters, numbers, hyphens and "
                                  "underscores.")
        tags = body.get("tags") or []
        if len(tags) > 50:
            raise common.ApiError(400, "InvalidParameterException", "Too many tags (max 50).")
        for tag in tags:
            key, value = tag.get("key", ""), tag.get("value", "")
            if not key or len(key) > 128 or len(value or "") > 256:
                raise common.ApiError(400, "InvalidParameterException",
                                      "Tag keys must be 1-128 characters and values at most 256.")
            if key.lower().startswith("aws:"):
                raise common.ApiError(400, "InvalidParameterException",
                                      "Tag keys may not start with the reserved prefix 'aws:'.")
        family, rev, td_arn, td_containers = self._task_definition(body["taskDefinition"])
        self._authz(req, cluster_arn=cluster_arn, task_definition_arn=td_arn, task_arns=[])
        override_names = [c.get("name") for c in (overrides or {}).get("containerOverrides", [])
                          if c.get("name")]
        if td_containers is not None:
            for name in override_names:
                if name not in td_containers:
                    raise common.ApiError(400, "InvalidParameterException",
                                          "Override for container named %s is not a container "
                                          "in the TaskDefinition." % name)
            containers = list(td_containers)
        else:
            containers = []
            for name in override_names:
                if name not in containers:
                    containers.append(name)
            containers = containers or list(self.config.get("container_names") or ["app"])

        capacity_provider = None
        if strategy:
            known = self.config.get("capacity_providers") or []
            for item in strategy:
                if item["capacityProvider"] not in known:
                    raise common.ApiError(400, "InvalidParameterException",
                                          "The specified capacity provider strategy cannot contain"
                                          " a capacity provider that is not associated with the "
                                          "cluster. Associate the capacity provider with the "
                                          "cluster or specify a valid capacity provider and try "
                                          "again.")
            best = max(strategy, key=lambda s: (s.get("base", 0), s.get("weight", 0)))
            capacity_provider = best["capacityProvider"]
            launch_type = "FARGATE" if capacity_provider.startswith("FARGATE") else "EC2"
        elif not launch_type:
            launch_type = "EC2"
        if launch_type in ("EC2", "EXTERNAL") and not capacity_provider:
            raise common.ApiError(400, "InvalidParameterException",
                                  "No Container Instances were found in your cluster.")
        if launch_type == "FARGATE" and self.config.get("require_network_configuration"):
            vpc = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
            if not vpc.get("subnets"):
                raise common.ApiError(400, "InvalidParameterException",
                                      "Network Configuration must be provided when networkMode "
                                      "'awsvpc' is specified.")

        key = (cluster_arn, token)
        if token is not None and key in self.tokens:
            prior = self.tokens[key]
            if prior["request"] != body:
                raise common.ApiError(400, "ConflictException",
                                      "The specified clientToken %r was already used with a "
                                      "different request." % token)
            self._authz(req, cluster_arn=cluster_arn, task_definition_arn=td_arn,
                        task_arns=list(prior["task_arns"]))
            return {"tasks": [self._view(self.tasks[a]) for a in prior["task_arns"]
                              if a in self.tasks],
                    "failures": copy.deepcopy(prior["failures"])}

        failures = [dict(f) for f in (self.config.get("run_failures") or [])]
        if not failures and capacity_provider in (self.config.get("capacity_unavailable") or []):
            failures = [{"reason": CAPACITY_MESSAGE}]
        if failures:
            if token is not None:
                self.tokens[key] = {"request": copy.deepcopy(body), "task_arns": [],
                                    "failures": copy.deepcopy(failures)}
            return {"tasks": [], "failures": failures}

        now = self.now()
        cfg = self.config
        arns = []
        vpc = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        for _ in range(count):
            tid = uuid.uuid4().hex
            arn = self._arn("task", "%s/%s" % (cluster_name, tid))
            timeline = [(st, now + float(dt)) for st, dt in (cfg.get("progression") or [])]
            timeline.sort(key=lambda e: e[1])
            self.tasks[arn] = {
                "arn": arn, "id": tid, "cluster": cluster_name, "cluster_arn": cluster_arn,
                "td_arn": td_arn, "family": family, "revision": rev,
                "group": body.get("group") or "family:" + family,
                "launch_type": launch_type, "capacity_provider": capacity_provider,
                "platform_version": (body.get("platformVersion") or "1.4.0").replace(
                    "LATEST", "1.4.0"),
                "containers": containers,
                "container_ids": [uuid.uuid4().hex for _ in containers],
                "attachment_id": str(uuid.uuid4()),
                "subnet": (vpc.get("subnets") or ["subnet-0123456789abcdef0"])[0],
                "private_ip": "10.0.%d.%d" % (len(self.tasks) // 250 % 250,
                                              len(self.tasks) % 250 + 2),
                "overrides": copy.deepcopy(overrides) if overrides is not None
                else {"containerOverrides": [], "inferenceAcceleratorOverrides": []},
                "started_by": started_by, "tags": copy.deepcopy(tags),
                "enable_execute_command": bool(body.get("enableExecuteCommand", False)),
                "created": now, "timeline": timeline,
                "exit_code": cfg.get("exit_code"), "stop_code": cfg.get("stop_code"),
                "stopped_reason": cfg.get("stopped_reason"),
                "container_reason": cfg.get("container_reason"),
                "override_exit_code": UNSET, "override_stop_code": UNSET,
                "override_stopped_reason": UNSET, "override_container_reason": UNSET,
                "stop_request": None, "forgotten": False, "client_token": token,
                "request_id": req.request_id,
            }
            self.task_order.append(arn)
            arns.append(arn)
        self.launches["total_tasks_created"] += count
        self.launches["run_task_calls_creating_tasks"] += 1
        if token is not None:
            by = self.launches["by_client_token"]
            by[token] = by.get(token, 0) + 1
            self.tokens[key] = {"request": copy.deepcopy(body), "task_arns": arns, "failures": []}
        self._authz(req, cluster_arn=cluster_arn, task_definition_arn=td_arn, task_arns=arns)
        return {"tasks": [self._view(self.tasks[a]) for a in arns], "failures": []}

    def op_DescribeTasks(self, body, req):
        cluster_name, cluster_arn = self._cluster(body.get("cluster"))
        refs = body["tasks"]
        if not refs:
            raise common.ApiError(400, "InvalidParameterException", "Tasks cannot be empty.")
        if len(refs) > 100:
            raise common.ApiError(400, "InvalidParameterException",
                                  "Tasks cannot have more than 100 elements (got %d)." % len(refs))
        include_tags = "TAGS" in (body.get("include") or [])
        tasks, failures, seen = [], [], set()
        for ref in refs:
            arn, task = self._find_task(cluster_name, ref)
            if arn in seen:
                continue
            seen.add(arn)
            if task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                tasks.append(self._view(task, include_tags))
        self._authz(req, cluster_arn=cluster_arn, task_arns=sorted(seen))
        return {"tasks": tasks, "failures": failures}

    def op_StopTask(self, body, req):
        cluster_name, cluster_arn = self._cluster(body.get("cluster"))
        reason = body.get("reason")
        if reason is not None and len(reason) > 255:
            raise common.ApiError(400, "InvalidParameterException",
                                  "reason can be at most 255 characters.")
        arn, task = self._find_task(cluster_name, body["task"])
        self._authz(req, cluster_arn=cluster_arn, task_arns=[arn])
        if task is None:
            raise common.ApiError(400, "InvalidParameterException",
                                  "The referenced task was not found.")
        now = self.now()
        self.stops.append({"taskArn": arn, "reason": reason, "time": now,
                           "request_id": req.request_id})
        if self._status(task, now) != "STOPPED" and task["stop_request"] is None:
            task["stop_request"] = {"time": now, "reason": reason or "Task stopped by user"}
            past = [e for e in task["timeline"] if e[1] <= now]
            delay = float(self.config.get("stop_delay") or 0)
            if delay > 0:
                past += [("STOPPING", now), ("STOPPED", now + delay)]
            else:
                past.append(("STOPPED", now))
            task["timeline"] = past
        return {"task": self._view(task)}

    def op_ListTasks(self, body, req):
        cluster_name, _ = self._cluster(body.get("cluster"))
        started_by = body.get("startedBy")
        others = [k for k in ("containerInstance", "family", "serviceName", "desiredStatus",
                              "launchType") if body.get(k) is not None]
        if started_by is not None and others:
            raise common.ApiError(400, "InvalidParameterException",
                                  "When you specify startedBy as the filter, it must be the only "
                                  "filter that you use (also given: %s)." % ", ".join(others))
        max_results = body.get("maxResults", 100)
        if not 1 <= max_results <= 100:
            raise common.ApiError(400, "InvalidParameterException",
                                  "maxResults must be between 1 and 100.")
        offset = 0
        if body.get("nextToken"):
            try:
                offset = int(json.loads(base64.b64decode(body["nextToken"]))["offset"])
            except Exception:
                raise common.ApiError(400, "InvalidParameterException", "Invalid nextToken.")
        want_status = body.get("desiredStatus") or "RUNNING"
        matched = []
        for arn in self.task_order:
            _, task = self._find_task(cluster_name, arn)
            if task is None:
                continue
            view = self._view(task, False)
            if started_by is not None:
                if task["started_by"] != started_by:
                    continue
            else:
                if want_status == "PENDING" or view["desiredStatus"] != want_status:
                    continue
                if body.get("family") and task["family"] != body["family"]:
                    continue
                if body.get("launchType") and view.get("launchType") != body["launchType"]:
                    continue
                if body.get("serviceName") or body.get("containerInstance"):
                    continue
            matched.append(arn)
        page = matched[offset:offset + max_results]
        out = {"taskArns": page}
        if offset + max_results < len(matched):
            out["nextToken"] = base64.b64encode(
                json.dumps({"offset": offset + max_results}).encode()).decode()
        return out

    # ------------------------------------------------------------------ control
    def control_extra(self, method, parts, body, req):
        head = parts[0] if parts else ""
        if head == "tasks" and method == "GET" and len(parts) == 1:
            with self.lock:
                out = []
                for arn in self.task_order:
                    task = self.tasks[arn]
                    view = self._view(task)
                    view["_fake"] = {"forgotten": task["forgotten"],
                                     "clientToken": task["client_token"],
                                     "stopRequest": task["stop_request"],
                                     "timeline": task["timeline"]}
                    out.append(view)
            return common.json_response(out)
        if head == "tasks" and method == "POST" and len(parts) >= 2:
            ref = "/".join(parts[1:])
            tid = ref.rsplit("/", 1)[-1]
            body = body or {}
            with self.lock:
                task = next((t for t in self.tasks.values() if t["id"] == tid), None)
                if task is None:
                    raise common.ApiError(404, "NoSuchTask", "no task %s" % ref)
                now = self.now()
                if "lastStatus" in body:
                    st = body["lastStatus"]
                    if st not in STATUS_ORDER:
                        raise common.ApiError(400, "BadStatus", "lastStatus must be one of %s"
                                              % ", ".join(STATUS_ORDER))
                    past = [e for e in task["timeline"] if e[1] <= now]
                    if self._status(task, now) != st:
                        past.append((st, now))
                    task["timeline"] = past
                for src, dst in (("exitCode", "override_exit_code"),
                                 ("stopCode", "override_stop_code"),
                                 ("stoppedReason", "override_stopped_reason"),
                                 ("containerReason", "override_container_reason")):
                    if src in body:
                        task[dst] = body[src]
                if body.get("forget"):
                    task["forgotten"] = True
                return common.json_response(self._view(task))
        if head == "launches" and method == "GET":
            with self.lock:
                out = copy.deepcopy(self.launches)
                if req.query.get("calls", ["0"])[0] in ("0", ""):
                    # Without ?calls=1 the answer keeps the shape tests compare whole.
                    return common.json_response(out)
                out["run_task_calls"] = self.run_task_calls
                out["calls_by_client_token"] = dict(self.calls_by_token)
            with self.bucket_lock:
                out["run_task_throttled"] = self.throttled.get("RunTask", 0)
            out["double_launches"] = sum(1 for n in out["by_client_token"].values() if n > 1)
            return common.json_response(out)
        if head == "stops" and method == "GET":
            with self.lock:
                return common.json_response(self.stops)
        return None


def start(port=0, host="127.0.0.1", config=None, creds_file=None, verbose=False):
    """Start in-process; returns (server, thread, port).  server.app is the EcsApp."""
    return common.start_server(EcsApp(config, creds_file), host, port, verbose)


if __name__ == "__main__":
    sys.exit(common.main(EcsApp, "Fake Amazon ECS (JSON 1.1, SigV4 checked by botocore)"))
