// Does src/daemon/openapi.json import into Postman cleanly?  Postman's own
// converter (openapi-to-postmanv2, what the app's import uses) must accept it,
// report no error, and give a request for every operation of the document.
'use strict';
const fs = require('fs');
const converter = require('openapi-to-postmanv2');

const path = process.argv[2];
const doc = JSON.parse(fs.readFileSync(path, 'utf8'));
let operations = 0;
for (const item of Object.values(doc.paths || {}))
  for (const m of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'])
    if (item[m]) operations++;

converter.convert({ type: 'json', data: doc }, { folderStrategy: 'Paths' }, (err, res) => {
  if (err || !res.result) {
    console.error('openapi import failed:', err ? err.message : res.reason);
    process.exit(1);
  }
  const col = res.output.find(o => o.type === 'collection');
  if (!col) {
    console.error('openapi import gave no collection');
    process.exit(1);
  }
  let requests = 0;
  const walk = items => items.forEach(i => (i.item ? walk(i.item) : requests++));
  walk(col.data.item || []);
  if (requests !== operations) {
    console.error(`openapi import gave ${requests} requests for ${operations} operations`);
    process.exit(1);
  }
  console.log(`openapi import: ${requests} requests, one per operation`);
});
