#!/bin/sh
# mkroot.sh ROOT BINARY... - stage a minimal root filesystem for a FROM scratch
# image (run in a Dockerfile's build stage; POSIX sh, Debian tools).
#
# ROOT gets:
#   /usr/local/bin/BINARY...      stripped copies of the binaries
#   every shared library `ldd` lists for them, at the path ldd gives (the
#   dynamic loader included), so the loader finds them without ld.so.cache
#   /etc/ssl/certs/ca-certificates.crt   Debian's CA bundle (libcurl's default)
#   /etc/passwd, /etc/group       root and nonroot (65532), no login shell
#   /etc/nsswitch.conf            files, then DNS
#   /tmp (1777), /home/nonroot (65532, 0700)
# No shell, no package manager, nothing else.  The image's USER is 65532.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 ROOT BINARY..." >&2; exit 2; }
root=$1
shift

mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" \
    "$root/home/nonroot"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/nonroot"
chmod 0700 "$root/home/nonroot"

libs=$(mktemp)
for bin in "$@"; do
	dest="$root/usr/local/bin/$(basename "$bin")"
	install -m 0755 "$bin" "$dest"
	strip --strip-unneeded "$dest"
	# "libx.so.1 => /lib/.../libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2
	# (0x...)"; linux-vdso has no file.  A missing library fails the build.
	if ldd "$bin" | grep -q 'not found'; then
		ldd "$bin" >&2
		echo "$0: $bin: unresolved shared libraries" >&2
		exit 1
	fi
	ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' >>"$libs"
done
sort -u "$libs" | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"          # the file itself, not the symlink
	chmod 0755 "$root$lib"
done
rm -f "$libs"

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nonroot:x:65532:
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
hosts:  files dns
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
