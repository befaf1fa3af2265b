// vlm-inspect's /v1 API through a client nobody here wrote: the official `openai` npm package
// lists the models, gets a reply with an image streamed and not (the same greedy text), and
// is refused with an authentication error for a bad token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import OpenAI from 'openai';
import { BASE_URL, tinyLlava } from './helpers.mjs';

const MODEL = 'tiny-llava-api';
// A 2×2 PNG, so the request needs no image library.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR4nGNgYGCIiopigFAAC6gCHZ+lTvsAAAAASUVORK5CYII=';

const cli = (...args) =>
  execFileSync(process.env.VLM_INSPECT_BIN, [...args, '--data-dir', process.env.VLM_INSPECT_E2E_DATA], { encoding: 'utf8' });

let model;
let token;
before(() => {
  model = tinyLlava('tiny-llava-api-');
  cli('model', 'add', MODEL, model);
  token = cli('token', 'create', '--user', 'admin', '--label', 'openai-npm').trim().split('\n').pop();
});
after(() => fs.rmSync(model, { recursive: true, force: true }));

const ask = (extra = {}) => ({
  model: MODEL,
  messages: [{
    role: 'user',
    content: [
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
      { type: 'text', text: 'Is this part normal or anomalous?' },
    ],
  }],
  max_tokens: 6,
  temperature: 0,
  ...extra,
});

test('the openai package lists models and gets the same reply streamed and not', async () => {
  assert.match(token, /^vi-[0-9a-f]{64}$/);
  const client = new OpenAI({ apiKey: token, baseURL: `${BASE_URL}/v1`, maxRetries: 0 });
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(MODEL), `listed: ${ids}`);

  const whole = await client.chat.completions.create(ask());
  const text = whole.choices[0].message.content;
  assert.equal(typeof text, 'string');
  assert.ok(['stop', 'length'].includes(whole.choices[0].finish_reason));
  assert.ok(whole.usage.prompt_tokens > 0 && whole.usage.completion_tokens <= 6, JSON.stringify(whole.usage));

  const stream = await client.chat.completions.create(ask({ stream: true, stream_options: { include_usage: true } }));
  let streamed = '';
  let usage;
  let pieces = 0;
  for await (const chunk of stream) {
    const piece = chunk.choices[0]?.delta?.content;
    if (piece) { streamed += piece; pieces += 1; }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(streamed, text, 'greedy: the same reply');
  assert.ok(pieces >= 1);
  assert.deepEqual(
    [usage.prompt_tokens, usage.completion_tokens],
    [whole.usage.prompt_tokens, whole.usage.completion_tokens],
  );
});

test('a bad token gets an authentication error in OpenAI\'s shape', async () => {
  const client = new OpenAI({ apiKey: 'vi-not-a-token', baseURL: `${BASE_URL}/v1`, maxRetries: 0 });
  await assert.rejects(client.models.list(), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
    assert.equal(e.status, 401);
    assert.match(e.message, /unknown or was revoked/);
    return true;
  });
  const unknown = new OpenAI({ apiKey: token, baseURL: `${BASE_URL}/v1`, maxRetries: 0 });
  await assert.rejects(unknown.chat.completions.create(ask({ model: 'no-such-model' })), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, String(e));
    return true;
  });
});
