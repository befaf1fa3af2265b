// Client overhead per request, side by side: our remote-model client (`vlm-inspect
// bench-remote`) and the official `openai` npm package, each sending the same sequential
// streamed requests to one loopback server that answers at once (so the time is the clients'
// own: connection, request encoding, stream parsing). Prints median and p99 and the ratio.
//
//   node bench/remote_overhead.mjs [requests]     (after scripts/setup.sh and a release build)
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { default: OpenAI } = await import(path.join(root, 'end2end/node_modules/openai/index.mjs'));
const N = Number(process.argv[2] ?? 300);
const WARMUP = 20;
const bin = process.env.VLM_INSPECT_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(process.env.HOME, '.cache/vlm-inspect/target'), 'release/vlm-inspect');

// 16 content chunks, a finish chunk, usage, [DONE]: a short explanation's worth.
const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const reply = [chunk({ role: 'assistant', content: '' })]
  .concat(Array.from({ length: 16 }, (_, i) => chunk({ content: `word${i} ` })))
  .concat([chunk({}, 'stop'), `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'bench', choices: [], usage: { prompt_tokens: 10, completion_tokens: 16, total_tokens: 26 } })}\n\n`, 'data: [DONE]\n\n'])
  .join('');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(reply);
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/v1`;

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p99: q(0.99) };
}

// Ours in a child process (the server keeps answering meanwhile: run it asynchronously).
const { execFile } = await import('node:child_process');
const oursOut = await new Promise((resolve, reject) =>
  execFile(bin, ['bench-remote', '--url', url, '--requests', String(N), '--warmup', String(WARMUP)], (e, out) => (e ? reject(e) : resolve(out))));
const ours = stats(JSON.parse(oursOut.trim().split('\n').pop()).ms);

const client = new OpenAI({ apiKey: 'none', baseURL: url, maxRetries: 0 });
const theirsMs = [];
for (let i = 0; i < WARMUP + N; i++) {
  const t0 = performance.now();
  const stream = await client.chat.completions.create({ model: 'bench', messages: [{ role: 'user', content: 'Is this part normal?' }], max_tokens: 16, temperature: 0, seed: 0, stream: true, stream_options: { include_usage: true } });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  if (i >= WARMUP) theirsMs.push(performance.now() - t0);
}
const theirs = stats(theirsMs);
server.close();

const f = (x) => x.toFixed(3);
console.log(`${N} sequential streamed requests to a loopback server (after ${WARMUP} warm-up)`);
console.log('| client | median ms | p99 ms |');
console.log('|---|---|---|');
console.log(`| vlm-inspect (remote crate) | ${f(ours.median)} | ${f(ours.p99)} |`);
console.log(`| openai npm ${JSON.parse(execFileSync('node', ['-p', `JSON.stringify(require('${path.join(root, 'end2end/node_modules/openai/package.json')}').version)`], { encoding: 'utf8' }))} | ${f(theirs.median)} | ${f(theirs.p99)} |`);
console.log(`median ratio (openai / ours): ${(theirs.median / ours.median).toFixed(2)}x`);
