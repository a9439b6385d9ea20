#!/usr/bin/env bash
# base-image.sh - the local Debian 12 base image for container tests, made once.
#
#   test/base-image.sh            print the image name, making it first if absent
#
# localhost/poky-base:bookworm is `debootstrap --variant=minbase bookworm` from the
# mirror this machine's apt uses, imported into podman's storage (about 75 s, once
# per machine; later runs reuse it).  Project-local name on purpose: an image named
# like an official one would shadow it in a user's image store.  REBUILD_BASE=1
# makes it again.  Needs root, podman and debootstrap; CONTAINERS_CONF as in
# test/images.sh when this machine needs one.
set -euo pipefail

BASE=${POKY_BASE_IMAGE:-localhost/poky-base:bookworm}

log() { printf 'base-image.sh: %s\n' "$*" >&2; }

# The first URI of an active deb source for bookworm itself, deb822 or one-line.
debian_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	local m="" f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		m=$(awk 'BEGIN { RS = ""; FS = "\n" }
		    {
			uri = ""; suite = 0; deb = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^[ \t]*#/) continue
				split($i, kv, ":")
				key = kv[1]; val = substr($i, length(key) + 2)
				n = split(val, w, /[ \t]+/)
				if (key == "URIs") for (j = 1; j <= n; j++) if (w[j] != "" && uri == "") uri = w[j]
				if (key == "Suites") for (j = 1; j <= n; j++) if (w[j] == "bookworm") suite = 1
				if (key == "Types") for (j = 1; j <= n; j++) if (w[j] == "deb") deb = 1
			}
			if (uri != "" && suite && deb) { print uri; exit }
		    }' "$f")
		[ -n "$m" ] && break
	done
	if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

main() {
	# One maker at a time per machine (test/images.sh takes the same lock).
	if command -v flock >/dev/null; then
		exec 9>/tmp/poky-images.lock
		flock 9
	fi
	if [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$BASE"; then
		echo "$BASE"
		return 0
	fi
	command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
	local mirror t0=$SECONDS
	mirror=$(debian_mirror)
	rootfs=$(mktemp -d /var/tmp/poky-rootfs.XXXXXX)
	trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
	log "making $BASE with debootstrap from $mirror (about 75 s, once) ..."
	if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
		tail -n 30 "$rootfs.log" >&2
		log "debootstrap failed"
		exit 1
	fi
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
	    "$rootfs"/var/log/* "$rootfs"/tmp/*
	tar --numeric-owner -C "$rootfs" -c . |
	    podman import --change 'CMD ["bash"]' - "$BASE" >/dev/null
	log "made $BASE in $((SECONDS - t0)) s"
	echo "$BASE"
}

main "$@"
