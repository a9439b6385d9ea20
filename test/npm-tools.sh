#!/bin/sh
# Install the npm tools the tests use into test/node_modules (git-ignored):
#   @redocly/cli   lints src/daemon/openapi.json (test/integration/test_pokyd_openapi.py)
#   cfn-lint, @aws-cdk/cfnspec, @cloud-copilot/iam-simulate   judge deploy/ (test_deploy.py)
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
   [ "$("$here/node_modules/.bin/redocly" --version 2>/dev/null | tail -n 1)" = "$REDOCLY_VERSION" ] &&
   [ -f "$here/node_modules/@cloud-copilot/iam-simulate/package.json" ] &&
   [ -f "$here/node_modules/@aws-cdk/cfnspec/package.json" ] &&
   [ -f "$here/node_modules/cfn-lint/package.json" ]; then
	echo "npm-tools.sh: @redocly/cli $REDOCLY_VERSION already in $here/node_modules"
	exit 0
fi
# --prefix keeps everything under test/; no package.json is written to the
# repository root, and nothing global changes.
# One install for every package: an `npm install --no-save` prunes what an earlier one added.
npm install --prefix "$here" --no-save --no-audit --no-fund --loglevel=error \
	"@redocly/cli@${REDOCLY_VERSION}" \
	cfn-lint@1.9.7 @aws-cdk/cfnspec@2.72.1 @cloud-copilot/iam-simulate@0.1.173
"$here/node_modules/.bin/redocly" --version
