#!/bin/sh
# deploy.sh - Poky on AWS in one step: the worker image in ECR, the CloudFormation stack
# (deploy/cloudformation/poky.yaml), a pokyd.ini from the stack's outputs, and the IAM policy
# pokyd itself needs.  docs/deploy.md explains each step and parameter.
#
#   deploy/deploy.sh up STACK VPC_ID SUBNET_IDS [PARAM=VALUE ...]
#       everything: image, stack, pokyd.ini (POKYD_INI), policy.  SUBNET_IDS is
#       comma-separated; PARAM=VALUE are more template parameters (TaskCpu=512 ...).
#   deploy/deploy.sh image             build and push the worker image; prints its URI
#   deploy/deploy.sh write-config OUTPUTS.json [FILE]
#       pokyd.ini from `aws cloudformation describe-stacks` JSON (offline); FILE defaults
#       to POKYD_INI
#   deploy/deploy.sh policy [FILE]     the IAM policy for pokyd (pokyd --print-iam-policy)
#
# Environment: AWS_REGION (else the aws cli's), POKYD_INI (default ./pokyd.ini),
# CONTAINER_ENGINE (docker or podman; default: whichever is found), IMAGE_TAG (default
# VERSION), ECR_REPOSITORY (default poky-worker), POKYD (default build/pokyd, else pokyd),
# TOKENS_FILE (the written [server] tokens_file; default /etc/poky/tokens).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
template=$here/cloudformation/poky.yaml
POKYD_INI=${POKYD_INI:-pokyd.ini}
ECR_REPOSITORY=${ECR_REPOSITORY:-poky-worker}
TOKENS_FILE=${TOKENS_FILE:-/etc/poky/tokens}

die() {
	echo "deploy.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '5,14s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is not installed${2:+ ($2)}"
}

pokyd_bin() {
	if [ -n "${POKYD:-}" ]; then
		echo "$POKYD"
	elif [ -x "$root/build/pokyd" ]; then
		echo "$root/build/pokyd"
	else
		need pokyd "make, or set POKYD"
		echo pokyd
	fi
}

region() {
	r=${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}
	[ -n "$r" ] || die "no region: set AWS_REGION"
	echo "$r"
}

engine() {
	if [ -n "${CONTAINER_ENGINE:-}" ]; then
		echo "$CONTAINER_ENGINE"
	elif command -v docker >/dev/null 2>&1; then
		echo docker
	elif command -v podman >/dev/null 2>&1; then
		echo podman
	else
		die "neither docker nor podman is installed (or set CONTAINER_ENGINE)"
	fi
}

# Build docker/Dockerfile.worker and push it to ECR (the repository is created the first
# time).  Prints the image URI, the only thing on stdout.
cmd_image() {
	need aws "https://aws.amazon.com/cli/"
	eng=$(engine)
	reg=$(region)
	tag=${IMAGE_TAG:-$(cat "$root/VERSION")}
	account=$(aws sts get-caller-identity --query Account --output text)
	registry=$account.dkr.ecr.$reg.amazonaws.com
	uri=$registry/$ECR_REPOSITORY:$tag
	aws ecr describe-repositories --region "$reg" --repository-names "$ECR_REPOSITORY" \
	    >/dev/null 2>&1 ||
	    aws ecr create-repository --region "$reg" --repository-name "$ECR_REPOSITORY" \
	        --image-scanning-configuration scanOnPush=true >/dev/null
	aws ecr get-login-password --region "$reg" |
	    "$eng" login --username AWS --password-stdin "$registry" >&2
	"$eng" build -f "$root/docker/Dockerfile.worker" -t "$uri" "$root" >&2
	"$eng" push "$uri" >&2
	echo "$uri"
}

# One output of the describe-stacks JSON in $1 ("" when the stack has no such output).
output() {
	python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
stacks = doc.get("Stacks", [doc])
outs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
print(outs.get(sys.argv[2], ""))
PY
}

stack_name() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print(d.get("Stacks", [d])[0].get("StackName", "?"))' "$1"
}

# An S3 bucket name as a whole-value POSIX ERE (names may hold '.').
bucket_pattern() {
	printf '^%s$' "$(printf '%s' "$1" | sed 's/\./\\./g')"
}

cmd_write_config() {
	if [ $# -lt 1 ] || [ $# -gt 2 ]; then
		usage
	fi
	json=$1
	out=${2:-$POKYD_INI}
	[ -r "$json" ] || die "$json: cannot read it"
	need python3
	for key in Region ClusterName TaskDefinitionFamily ContainerName Subnets SecurityGroup \
	    AssignPublicIp InputBucket OutputBucket TaskRoleArn ExecutionRoleArn LogGroupName \
	    LogStreamPrefix; do
		[ -n "$(output "$json" "$key")" ] ||
		    die "$json: the stack has no output $key (deployed from an older template?)"
	done
	reg=$(output "$json" Region)
	providers=$(output "$json" CapacityProviders)
	if [ -n "$providers" ]; then
		launch="capacity_providers = $providers"
	else
		launch="launch_type = FARGATE"
	fi
	in_re=$(bucket_pattern "$(output "$json" InputBucket)")
	out_re=$(bucket_pattern "$(output "$json" OutputBucket)")
	tmp=$out.tmp.$$
	{
		cat <<INI
; pokyd configuration written by deploy/deploy.sh write-config from the outputs of
; CloudFormation stack $(stack_name "$json").
; Every key: config/pokyd.ini.  Check it with: pokyd -c FILE -t

[server]
listen = 127.0.0.1:8080
tokens_file = $TOKENS_FILE
state_dir = /var/lib/poky

[aws]
region = $reg

; The original Poky's task, on the stack's cluster.  Task output: CloudWatch Logs
; (GET /tasks/ID/logs reads it; the worker's result line becomes the record's result).
[template.process_file]
launcher = ecs
cluster = $(output "$json" ClusterName)
task_definition = $(output "$json" TaskDefinitionFamily)
container = $(output "$json" ContainerName)
$launch
subnets = $(output "$json" Subnets)
security_groups = $(output "$json" SecurityGroup)
assign_public_ip = $(output "$json" AssignPublicIp)
task_role_arn = $(output "$json" TaskRoleArn)
execution_role_arn = $(output "$json" ExecutionRoleArn)
log_group = $(output "$json" LogGroupName)
log_stream_prefix = $(output "$json" LogStreamPrefix)
timeout = 0
param.source_bucket = required env=SOURCE_BUCKET max=63 s3=bucket pattern=$in_re
param.source_key    = required env=SOURCE_KEY max=1024 s3=object:source_bucket
param.output_bucket = required env=OUTPUT_BUCKET max=63 s3=bucket pattern=$out_re
INI
		# Without moves the task role may not delete: don't offer what would fail.
		if [ "$(output "$json" AllowMoves)" != "false" ]; then
			echo 'param.delete_source = optional env=DELETE_SOURCE default=false pattern=^(true|false)$'
		fi
		echo "env.AWS_REGION = $reg"
	} >"$tmp"
	mv "$tmp" "$out"
	echo "deploy.sh: wrote $out" >&2
}

cmd_policy() {
	"$(pokyd_bin)" -c "${1:-$POKYD_INI}" --print-iam-policy
}

cmd_up() {
	[ $# -ge 3 ] || usage
	stack=$1
	vpc=$2
	subnets=$3
	shift 3
	need aws "https://aws.amazon.com/cli/"
	reg=$(region)
	image=$(cmd_image)
	aws cloudformation deploy --region "$reg" --stack-name "$stack" \
	    --template-file "$template" --capabilities CAPABILITY_IAM \
	    --no-fail-on-empty-changeset \
	    --parameter-overrides "WorkerImage=$image" "VpcId=$vpc" "SubnetIds=$subnets" "$@"
	outputs=$(mktemp)
	trap 'rm -f "$outputs"' EXIT
	aws cloudformation describe-stacks --region "$reg" --stack-name "$stack" >"$outputs"
	cmd_write_config "$outputs" "$POKYD_INI"
	"$(pokyd_bin)" -c "$POKYD_INI" -t >&2 ||
	    echo "deploy.sh: create $TOKENS_FILE before starting pokyd (README: tokens)" >&2
	echo "deploy.sh: the IAM policy for the identity pokyd runs as:" >&2
	cmd_policy "$POKYD_INI"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up) cmd_up "$@" ;;
image) [ $# -eq 0 ] || usage; cmd_image ;;
write-config) cmd_write_config "$@" ;;
policy) [ $# -le 1 ] || usage; cmd_policy "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
