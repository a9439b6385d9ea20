#!/bin/sh
# Install the npm tools the tests use into test/node_modules (git-ignored):
#   @redocly/cli   lints src/daemon/openapi.json (test/integration/test_pokyd_openapi.py)
# Safe to re-run: npm skips what is already there.  The version is pinned (the tests use
# the same one with npx when test/node_modules is missing); releases after it need Node 22,
# Debian 12 has Node 20.  REDOCLY_VERSION=... overrides it.
set -eu
REDOCLY_VERSION=${REDOCLY_VERSION:-2.77.0}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v npm >/dev/null 2>&1; then
	echo "npm-tools.sh: npm is not installed (Debian: apt-get install npm)" >&2
	exit 1
fi
if [ -x "$here/node_modules/.bin/redocly" ] &&
   [ "$("$here/node_modules/.bin/redocly" --version 2>/dev/null | tail -n 1)" = "$REDOCLY_VERSION" ]; then
	echo "npm-tools.sh: @redocly/cli $REDOCLY_VERSION already in $here/node_modules"
	exit 0
fi
# --prefix keeps everything under test/; no package.json is written to the
# repository root, and nothing global changes.
npm install --prefix "$here" --no-save --no-audit --no-fund --loglevel=error \
	"@redocly/cli@${REDOCLY_VERSION}"
"$here/node_modules/.bin/redocly" --version
