#!/usr/bin/env bash
# rgw.sh - a throw-away Ceph RADOS Gateway (real S3) for the integration tests.
#
#   test/rgw.sh start DIR PORT   start one monitor, one in-memory OSD and radosgw
#                                on 127.0.0.1:PORT with all state under DIR (wiped
#                                first); prints "mon=PID osd=PID rgw=PID port=PORT"
#   test/rgw.sh stop DIR         stop what `start DIR` started and remove DIR
#
# Installs radosgw, ceph-mon and ceph-osd with apt-get when they are missing
# (root only; about 30 s the first time).  Objects live in the OSD's RAM
# (memstore), so a run leaves nothing on disk once stopped.  The daemons talk
# to each other without cephx; S3 requests are fully SigV4-checked.
#
# Environment:
#   RGW_MON_PORT        monitor port (default: the first free port above PORT)
#   RGW_MEMSTORE_BYTES  RAM the OSD may use for objects (default 1.5 GiB)
#   S3_ACCESS_KEY       access key of the S3 user "ci" (default AKIDRGWTEST01)
#   S3_SECRET_KEY       its secret (default rgwSecret)
#   RGW_KEEP_DIR=1      `stop` leaves DIR (logs) in place
set -euo pipefail

usage() {
	echo "usage: $0 start DIR PORT | stop DIR" >&2
	exit 2
}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

install_missing() {
	if command -v radosgw >/dev/null && command -v ceph-osd >/dev/null &&
	    command -v ceph-mon >/dev/null && command -v radosgw-admin >/dev/null; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "radosgw is not installed; run:" >&2
		echo "  sudo apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd" >&2
		exit 1
	fi
	echo "installing radosgw ceph-mon ceph-osd ..." >&2
	export DEBIAN_FRONTEND=noninteractive
	# Serialise with other scripts that install packages at the same time.
	local lock=()
	command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
	"${lock[@]}" apt-get install -y -q --no-install-recommends radosgw ceph-mon ceph-osd >&2 || {
		"${lock[@]}" apt-get update -q >&2
		"${lock[@]}" apt-get install -y -q --no-install-recommends radosgw ceph-mon ceph-osd >&2
	}
}

# The daemons of the cluster in DIR: their pid files, and (should a pid file
# be gone) any process started with "-c DIR/ceph.conf".
cluster_pids() {
	local d=$1 f p
	for f in "$d"/run/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f" 2>/dev/null || true)
		[[ "$p" =~ ^[0-9]+$ ]] && echo "$p"
	done
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		tr '\0' '\n' <"$f" 2>/dev/null | grep -qxF -- "$d/ceph.conf" && echo "$p"
	done
	return 0
}

# Stop the cluster in DIR: SIGTERM, then SIGKILL after 10 s (an OSD whose
# monitor is gone may never finish shutting down).
stop_daemons() {
	local d=$1 pids=() p
	for p in $(cluster_pids "$d" | sort -u); do
		[ "$p" = $$ ] && continue
		kill "$p" 2>/dev/null && pids+=("$p")
	done
	for _ in $(seq 1 100); do
		local alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}

start() {
	local d=$1 port=$2
	local ak=${S3_ACCESS_KEY:-AKIDRGWTEST01}
	local sk=${S3_SECRET_KEY:-rgwSecret}
	local mem=${RGW_MEMSTORE_BYTES:-1610612736}
	local monport=${RGW_MON_PORT:-}

	[[ "$port" =~ ^[0-9]+$ ]] || usage
	install_missing
	if port_busy "$port"; then
		echo "port $port already in use" >&2
		exit 1
	fi
	if [ -z "$monport" ]; then
		monport=$((port + 1))
		while port_busy "$monport"; do monport=$((monport + 1)); done
	fi
	case "$d" in
	/*) ;;
	*) d=$PWD/$d ;;
	esac
	# Refuse to wipe anything but a directory we made (or an empty/new one).
	if [ -e "$d" ] && [ ! -f "$d/.poky-rgw" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then
		echo "$d exists and was not made by $0; refusing to wipe it" >&2
		exit 1
	fi
	[ -d "$d/run" ] && stop_daemons "$d"
	rm -rf "$d"
	mkdir -p "$d/run" "$d/mon.a" "$d/osd.0" "$d/rgw"
	touch "$d/.poky-rgw"
	trap 'echo "rgw.sh: start failed at line $LINENO; logs in $d" >&2; stop_daemons "$d"; exit 1' ERR

	local fsid osduuid c=$d/ceph.conf
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$c" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$monport
ms bind msgr2 = false
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd class update on start = false
osd objectstore = memstore
memstore device bytes = $mem
run dir = $d/run
pid file = $d/run/\$name.pid
admin socket = $d/run/\$name.asok
log file = $d/\$name.log
mon data = $d/mon.\$id
osd data = $d/osd.\$id
keyring = $d/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $d/rgw
CONF
	ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	monmaptool --create --addv a "[v1:127.0.0.1:$monport]" --fsid "$fsid" "$d/monmap" >/dev/null
	ceph-mon -c "$c" --mkfs -i a --monmap "$d/monmap" --keyring "$d/keyring"
	ceph-mon -c "$c" -i a                   # daemonizes; run/mon.a.pid
	osduuid=$(cat /proc/sys/kernel/random/uuid)
	timeout 60 ceph -c "$c" osd create "$osduuid" >/dev/null   # osd id 0
	ceph-osd -c "$c" -i 0 --mkfs --osd-uuid "$osduuid" >/dev/null 2>&1
	# Daemonizes once initialised (run/osd.0.pid).  A fresh OSD sometimes
	# asks the monitor before it has the cluster's fsid and gives up
	# ("wrong fsid"); a second start works.
	local try
	for try in 1 2 3 4; do
		ceph-osd -c "$c" -i 0 2>/dev/null && break
		[ $try = 4 ] && { echo "ceph-osd would not start; see $d/osd.0.log" >&2; false; }
		sleep 1
	done
	local up=0 deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		if timeout 5 ceph -c "$c" osd stat 2>/dev/null | grep -q '1 up'; then
			up=1
			break
		fi
		sleep 0.5
	done
	[ $up = 1 ] || { echo "OSD not up after 60 s; see $d/osd.0.log" >&2; false; }
	radosgw -c "$c" -n client.rgw           # daemonizes; creates its pools
	local code=000
	for _ in $(seq 1 120); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/" || true)
		[ "$code" = 200 ] && break
		sleep 0.5
	done
	[ "$code" = 200 ] || { echo "radosgw not ready; see $d/client.rgw.log" >&2; false; }
	radosgw-admin -c "$c" user create --uid=ci --display-name=ci \
	    --access-key="$ak" --secret-key="$sk" >/dev/null 2>&1
	trap - ERR
	echo "mon=$(cat "$d/run/mon.a.pid") osd=$(cat "$d/run/osd.0.pid")" \
	    "rgw=$(cat "$d/run/client.rgw.pid") port=$port"
}

stop() {
	local d=$1
	[ -d "$d" ] || return 0
	if [ ! -f "$d/.poky-rgw" ]; then
		echo "$d was not made by $0; not touching it" >&2
		exit 1
	fi
	stop_daemons "$d"
	[ "${RGW_KEEP_DIR:-0}" = 1 ] || rm -rf "$d"
}

case "${1:-}" in
start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
stop) [ $# -eq 2 ] || usage; stop "$2" ;;
*) usage ;;
esac
