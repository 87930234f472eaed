// The MCP server driven by the official TypeScript SDK over Streamable HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { baseUrl, key, otherKey, corpus, gatesDoc, question } from './env.mjs';

async function connect(apiKey) {
  const client = new Client({ name: 'nexusrag-node-tests', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/v1/mcp', baseUrl), {
    requestInit: { headers: { Authorization: `Bearer ${apiKey}` } },
  });
  await client.connect(transport);
  return client;
}

function errorCode(result) {
  assert.equal(result.isError, true, `expected a tool error: ${JSON.stringify(result)}`);
  assert.match(result.content[0].text, new RegExp(`^${result.structuredContent.error.code}: `));
  return result.structuredContent.error.code;
}

let mcp;
let other;
before(async () => {
  mcp = await connect(key);
  other = await connect(otherKey);
});
after(async () => {
  await mcp?.close();
  await other?.close();
});

test('initialize reports the server and its tools with exact input schemas', async () => {
  assert.equal(mcp.getServerVersion().name, 'nexusrag');
  assert.ok(mcp.getServerCapabilities().tools);
  const { tools } = await mcp.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['ask', 'get_document', 'list_corpora', 'search']);
  const search = tools.find((t) => t.name === 'search').inputSchema;
  assert.deepEqual(search.required, ['corpus_id', 'query']);
  assert.equal(search.additionalProperties, false);
  assert.deepEqual(search.properties.mode.enum, ['hybrid', 'lexical', 'vector']);
  assert.deepEqual(tools.find((t) => t.name === 'ask').inputSchema.required, ['corpus_id', 'question']);
});

test('list_corpora, search and get_document return the tenant\'s data', async () => {
  const corpora = await mcp.callTool({ name: 'list_corpora', arguments: {} });
  assert.notEqual(corpora.isError, true);
  assert.deepEqual(corpora.structuredContent.corpora.map((c) => c.id), [corpus]);

  const hits = await mcp.callTool({ name: 'search', arguments: { corpus_id: corpus, query: 'release gates security review', top_k: 3 } });
  assert.notEqual(hits.isError, true);
  const first = hits.structuredContent.results[0];
  assert.equal(first.document_id, gatesDoc);
  assert.equal(first.source, `document://${gatesDoc}`);
  assert.match(first.text, /release gates/);
  assert.ok(first.score > 0);

  const doc = await mcp.callTool({ name: 'get_document', arguments: { document_id: gatesDoc, content: 'text' } });
  assert.equal(doc.structuredContent.document.id, gatesDoc);
  assert.match(doc.structuredContent.text, /security review must sign off/);
});

test('ask answers with numbered citations and sends progress notifications', async () => {
  const progress = [];
  const result = await mcp.callTool({ name: 'ask', arguments: { corpus_id: corpus, question } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  assert.notEqual(result.isError, true);
  assert.match(result.structuredContent.answer, /\[1\]/);
  assert.equal(result.structuredContent.citations[0].source, `document://${gatesDoc}`);
  assert.match(result.content[0].text, /Sources:\n\[1\] document:\/\//);
  assert.ok(progress.length >= 2, `progress notifications: ${progress.length}`);
  assert.equal(progress.at(-1).message, 'done');
});

test('a bad argument is a tool error with the HTTP API\'s code, not a transport failure', async () => {
  assert.equal(errorCode(await mcp.callTool({ name: 'search', arguments: { corpus_id: corpus, query: 'x', top_k: 0 } })), 'VALIDATION_ERROR');
  assert.equal(errorCode(await mcp.callTool({ name: 'search', arguments: { corpus_id: corpus } })), 'VALIDATION_ERROR');
  assert.equal(errorCode(await mcp.callTool({ name: 'search', arguments: { corpus_id: corpus, query: 'x', colour: 'red' } })), 'UNKNOWN_FIELD');
  assert.equal(errorCode(await mcp.callTool({ name: 'ask', arguments: { corpus_id: 'no-such-corpus', question } })), 'NOT_FOUND');
  // The connection is still good.
  assert.notEqual((await mcp.callTool({ name: 'list_corpora', arguments: {} })).isError, true);
});

test('a key of another tenant sees nothing of this tenant', async () => {
  const corpora = await other.callTool({ name: 'list_corpora', arguments: {} });
  assert.ok(!corpora.structuredContent.corpora.some((c) => c.id === corpus));
  assert.equal(errorCode(await other.callTool({ name: 'search', arguments: { corpus_id: corpus, query: 'release gates' } })), 'NOT_FOUND');
  assert.equal(errorCode(await other.callTool({ name: 'ask', arguments: { corpus_id: corpus, question } })), 'NOT_FOUND');
  assert.equal(errorCode(await other.callTool({ name: 'get_document', arguments: { document_id: gatesDoc } })), 'NOT_FOUND');
});
