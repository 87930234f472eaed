// The OpenAI-compatible API driven by OpenAI's official Node library.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { baseUrl, key, otherKey, corpus, gatesDoc, question } from './env.mjs';

const client = new OpenAI({ apiKey: key, baseURL: new URL('/v1', baseUrl).toString(), maxRetries: 0 });
const otherClient = new OpenAI({ apiKey: otherKey, baseURL: new URL('/v1', baseUrl).toString(), maxRetries: 0 });

test('models.list: one model per corpus of the key\'s tenant', async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.deepEqual(ids, [corpus]);
  const theirs = [];
  for await (const model of otherClient.models.list()) theirs.push(model.id);
  assert.ok(!theirs.includes(corpus));
});

test('chat.completions.create without streaming: a cited answer and usage', async () => {
  const completion = await client.chat.completions.create({ model: corpus, messages: [{ role: 'user', content: question }] });
  assert.equal(completion.object, 'chat.completion');
  const message = completion.choices[0].message;
  assert.equal(message.role, 'assistant');
  assert.match(message.content, /\[1\]/);
  assert.equal(message.citations[0].source, `document://${gatesDoc}`);
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.ok(completion.usage.total_tokens > 0);
});

test('chat.completions.create with streaming: the same text, then citations and usage', async () => {
  const whole = (await client.chat.completions.create({ model: corpus, messages: [{ role: 'user', content: question }] })).choices[0].message.content;
  const stream = await client.chat.completions.create({
    model: corpus, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: question }],
  });
  let text = '';
  let citations;
  let usage;
  let finish;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      finish ??= choice.finish_reason ?? undefined;
    }
    if (chunk.citations) citations = chunk.citations;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, whole);
  assert.equal(finish, 'stop');
  assert.equal(citations[0].source, `document://${gatesDoc}`);
  assert.ok(usage.completion_tokens > 0);
});

test('embeddings.create with the corpus embedder', async () => {
  const res = await client.embeddings.create({ model: corpus, input: ['release gates', 'lunch at noon'] });
  assert.equal(res.data.length, 2);
  const dims = res.data[0].embedding.length;
  assert.ok(dims > 0);
  assert.equal(res.data[1].embedding.length, dims);
  const floats = await client.embeddings.create({ model: corpus, input: 'release gates', encoding_format: 'float' });
  assert.deepEqual(floats.data[0].embedding.map((v) => Math.fround(v)), res.data[0].embedding.map((v) => Math.fround(v)));
});

test('a bad model is a 404 in OpenAI\'s error shape', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-corpus', messages: [{ role: 'user', content: question }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.param, 'model');
      return true;
    },
  );
  await assert.rejects(otherClient.chat.completions.create({ model: corpus, messages: [{ role: 'user', content: question }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found');
  await assert.rejects(new OpenAI({ apiKey: 'nrgk_bogus', baseURL: new URL('/v1', baseUrl).toString(), maxRetries: 0 }).models.list(),
    (err) => err instanceof OpenAI.AuthenticationError && err.code === 'invalid_api_key');
});
