#!/usr/bin/env bash
# images.sh - build Poky's container images with podman, no Docker engine or
# registry needed.
#
#   test/images.sh [worker] [pokyd]     build the named images (default: both)
#
# Builds docker/Dockerfile.worker as poky-worker:test and docker/Dockerfile.pokyd
# as pokyd:test from the repository root, with `podman build --pull=never`.
# Their build stage starts FROM the build argument BASE_IMAGE (Docker Hub's
# debian:bookworm-slim by default); here it is localhost/poky-base:bookworm,
# made when missing: `debootstrap --variant=minbase bookworm` from the Debian
# mirror apt uses, imported into podman's storage.  Project-local name on
# purpose: an image imported as docker.io/library/debian would shadow the
# official one in the user's image store.  That takes about 75 s once per
# machine; later runs reuse it and podman's layer cache (a re-run with no source
# change takes seconds).  The images get OCI labels: version from VERSION,
# revision and created from the git commit (its date, so a rebuild of the same
# commit is the same image), source from IMAGE_SOURCE.
#
# Installs podman, buildah, runc and debootstrap with apt-get when missing (root).
#
# Environment:
#   CONTAINERS_CONF   podman configuration; when unset, a private one is written
#                     (runc, cgroupfs, file events, ulimits: what this kind of
#                     sandbox needs, harmless elsewhere) and exported
#   IMAGE_TAG         tag of the built images (default: test)
#   DEBIAN_MIRROR     mirror for debootstrap (default: from apt's sources)
#   REBUILD_BASE=1    make the base image again even if it exists
#   POKY_BASE_IMAGE   the base (default localhost/poky-base:bookworm)
#   IMAGE_SOURCE      the org.opencontainers.image.source label (default: the
#                     git remote "origin" without credentials, else "unknown")
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TAG=${IMAGE_TAG:-test}
BASE=${POKY_BASE_IMAGE:-localhost/poky-base:bookworm}
PACKAGES=(podman buildah runc debootstrap)

log() { printf 'images.sh: %s\n' "$*" >&2; }

# Temporary files and directories, removed on exit.
CLEANUP=()
cleanup() { [ ${#CLEANUP[@]} -eq 0 ] || rm -rf "${CLEANUP[@]}"; }
trap cleanup EXIT

install_missing() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		    missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		log "missing packages: ${missing[*]}"
		log "run: sudo apt-get install -y --no-install-recommends ${missing[*]}"
		exit 1
	fi
	log "installing ${missing[*]} ..."
	export DEBIAN_FRONTEND=noninteractive
	# Serialise with other scripts that install packages at the same time.
	local lock=()
	command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
	"${lock[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
		"${lock[@]}" apt-get update -q >&2
		"${lock[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	}
}

# Earlier versions of this script imported their base as
# docker.io/library/debian:bookworm-slim, shadowing the official image in the
# user's store.  Take that name away again - only from an image we imported
# (an official one is never "imported from tarball").
untag_legacy_base() {
	local legacy=docker.io/library/debian:bookworm-slim
	podman image exists "$legacy" || return 0
	if podman image history --format '{{.Comment}}' "$legacy" 2>/dev/null |
	    grep -qx 'imported from tarball'; then
		log "removing the name $legacy from the base an older images.sh imported"
		podman untag "$legacy" "$legacy" >/dev/null
	fi
}

build() {
	local name=$1 dockerfile=$2 t0=$SECONDS ref old=() new
	log "building $name:$TAG from $dockerfile ..."
	for ref in "localhost/$name-build:$TAG" "localhost/$name:$TAG"; do
		old+=("$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)")
	done
	# --format docker: OCI image configs have no HEALTHCHECK; Docker's do.
	# The build stage gets a name too (same steps, so from the cache): named,
	# its layers stay in storage and the next run starts from them.
	local opts=(--pull=never --format docker --layers -f "$ROOT/$dockerfile"
	    --build-arg "BASE_IMAGE=$BASE")
	podman build "${opts[@]}" --target build -t "localhost/$name-build:$TAG" "$ROOT" >&2
	podman build "${opts[@]}" "${LABEL_ARGS[@]}" -t "localhost/$name:$TAG" "$ROOT" >&2
	# What the previous build made (a changed source), now nameless, goes with
	# the layers only it used: tens of MB per source change otherwise.  Only
	# our own images: other dangling images on this machine are not ours.
	for ref in "${old[@]}"; do
		[ -n "$ref" ] || continue
		new=$(podman image inspect --format '{{len .RepoTags}}' "$ref" 2>/dev/null || echo 1)
		if [ "$new" = 0 ]; then
			podman rmi "$ref" >/dev/null 2>&1 || true
		fi
	done
	log "built $name:$TAG in $((SECONDS - t0)) s"
}

# The OCI labels that change per commit (the Dockerfiles' last instruction, so
# they change metadata, never a layer).
label_args() {
	local rev created source
	rev=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
	# Uncommitted changes are not that commit: say so.
	git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || rev="$rev-dirty"
	created=$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || echo unknown)
	source=${IMAGE_SOURCE:-$(git -C "$ROOT" remote get-url origin 2>/dev/null |
	    sed -E 's|^([a-z+]+://)[^/@]*@|\1|' || true)}
	local version kv k v
	version=$(cat "$ROOT/VERSION")
	LABEL_ARGS=()
	for kv in "VERSION=$version" "REVISION=$rev" "CREATED=$created" "SOURCE=${source:-unknown}"; do
		k=${kv%%=*} v=${kv#*=}
		# The build arguments for the Dockerfile's LABEL, and the labels
		# themselves: podman 4.3's layer cache ignores build-argument values,
		# so a new commit would keep the old LABEL step; --label is applied
		# to the image podman commits, cached or not.
		LABEL_ARGS+=(--build-arg "$kv" --label
		    "org.opencontainers.image.${k,,}=$v")
	done
}

main() {
	local want=("$@") w
	[ ${#want[@]} -eq 0 ] && want=(worker pokyd)
	for w in "${want[@]}"; do
		case "$w" in
		worker | pokyd) ;;
		*) echo "usage: $0 [worker] [pokyd]" >&2; exit 2 ;;
		esac
	done
	install_missing
	if [ -z "${CONTAINERS_CONF:-}" ]; then
		CONTAINERS_CONF=$(mktemp /tmp/poky-containers.XXXXXX.conf)
		cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
		export CONTAINERS_CONF
		CLEANUP+=("$CONTAINERS_CONF")
	fi
	# The base: test/base-image.sh makes it once (it takes the lock below
	# itself, so before this script does).
	POKY_BASE_IMAGE=$BASE "$ROOT/test/base-image.sh" >/dev/null
	untag_legacy_base
	# One build at a time per machine.
	if command -v flock >/dev/null; then
		exec 9>/tmp/poky-images.lock
		flock 9
	fi
	label_args
	for w in "${want[@]}"; do
		case "$w" in
		worker) build poky-worker docker/Dockerfile.worker ;;
		pokyd) build pokyd docker/Dockerfile.pokyd ;;
		esac
	done
	podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
	    --filter "reference=localhost/poky-worker:$TAG" \
	    --filter "reference=localhost/pokyd:$TAG" | sed 's/^/images.sh: /' >&2
}

main "$@"
