#!/usr/bin/env node
// Evaluate IAM requests against one identity policy with @cloud-copilot/iam-simulate
// (installed by test/npm-tools.sh into test/node_modules).  Used by
// test/integration/test_iam_policy.py.
//
//   node test/iam_simulate.js < {"policy": {...}, "principal": ARN,
//       "requests": [{"action", "resource", "account", "context": {key: value | [values]}}]}
//   stdout: [{"result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "error",
//             "resourceType", "ignoredContextKeys", "errors"}], one per request, in order.
'use strict';
// Resolved from this file's directory: test/node_modules.
const { runSimulation } = require('@cloud-copilot/iam-simulate');

async function evaluate(input, rq) {
  const out = await runSimulation({
    request: {
      principal: input.principal,
      action: rq.action,
      resource: { resource: rq.resource, accountId: rq.account },
      contextVariables: rq.context || {},
    },
    identityPolicies: [{ name: 'pokyd', policy: input.policy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }, { simulationMode: 'Strict' });
  if (out.resultType === 'error')
    return { result: 'error', errors: out.errors };
  const one = out.resultType === 'single' ? out.result : out.results[0];
  return {
    result: out.overallResult,
    resourceType: one ? one.resourceType : null,
    ignoredContextKeys: one ? one.ignoredContextKeys || [] : [],
  };
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin)
    chunks.push(c);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for (const rq of input.requests)
    results.push(await evaluate(input, rq));
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
