#!/usr/bin/env node
// Runs the npm judges of the deploy kit for test/integration/test_deploy.py, with the
// packages test/npm-tools.sh installs into test/node_modules:
//   deploy_judges.js lint TEMPLATE PARAMS.json
//       cfn-lint's validator on the template.  cfn-lint 1.9.7 carries a 2019 copy of the
//       resource specification (no RuntimePlatform, no cluster capacity providers), so it is
//       first extended with AWS's current one from @aws-cdk/cfnspec.  Prints
//       {"errors": [...], "warnings": [...]}; exit 1 when there are errors.
//   deploy_judges.js simulate REQUESTS.json
//       @cloud-copilot/iam-simulate on [{policy, action, resource, account}] (one identity
//       policy each); prints [{action, resource, result}], result Allowed / ImplicitlyDenied /
//       ExplicitlyDenied, or "error: ..." when the simulator refused the request as invalid.
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', 'node_modules');
const need = (name) => require(require.resolve(name, { paths: [modules] }));

function lint(template, paramsFile) {
  const spec = need('@aws-cdk/cfnspec/spec/specification.json');
  need('cfn-lint/lib/resourcesSpec').extendSpecification({
    PropertyTypes: spec.PropertyTypes,
    ResourceTypes: spec.ResourceTypes,
  });
  const params = paramsFile ? JSON.parse(fs.readFileSync(paramsFile, 'utf8')) : {};
  const result = need('cfn-lint/lib/validator').validateFile(template, {
    parameters: params, pseudoParameters: {}, guessParameters: undefined,
  });
  const out = { errors: [], warnings: [] };
  for (const kind of ['errors', 'warnings']) {
    for (const group of Object.values(result[kind] || {}))
      for (const e of group) out[kind].push(`${e.resource}: ${e.message}`);
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  return out.errors.length ? 1 : 0;
}

async function simulate(requestsFile) {
  const { runSimulation } = need('@cloud-copilot/iam-simulate');
  const requests = JSON.parse(fs.readFileSync(requestsFile, 'utf8'));
  const out = [];
  for (const r of requests) {
    const answer = await runSimulation({
      identityPolicies: [{ name: 'policy', policy: r.policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: undefined,
      permissionBoundaryPolicies: undefined,
      request: {
        action: r.action,
        principal: r.principal || `arn:aws:sts::${r.account}:assumed-role/poky/task`,
        resource: { resource: r.resource, accountId: r.account },
        contextVariables: r.context || {},
      },
    }, {});
    const result = answer.resultType === 'error'
      ? 'error: ' + JSON.stringify(answer.errors) : answer.overallResult;
    out.push({ action: r.action, resource: r.resource, result });
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  return 0;
}

async function main() {
  const [cmd, a, b] = process.argv.slice(2);
  if (cmd === 'lint' && a) return lint(a, b);
  if (cmd === 'simulate' && a) return simulate(a);
  process.stderr.write('usage: deploy_judges.js lint TEMPLATE [PARAMS.json] | simulate REQUESTS.json\n');
  return 2;
}

main().then((rc) => process.exit(rc), (err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(3);
});
