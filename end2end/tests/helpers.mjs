// Shared set-up for the browser tests: Debian's Chromium, the server's URL and the admin login.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE_URL = process.env.VLM_INSPECT_URL ?? 'http://127.0.0.1:3000';
export const ADMIN_PASSWORD = process.env.VLM_INSPECT_ADMIN_PASSWORD ?? '';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Signs in through the login form and waits for the home page. */
export async function signIn(page, username, password) {
  await page.goto(`${BASE_URL}/login`);
  await waitForHydration(page);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForURL(`${BASE_URL}/`);
  await waitForHydration(page);
}

/** Hydration is done once the wasm module has run `hydrate()` (leptos marks the window). */
export async function waitForHydration(page) {
  await page.waitForFunction(() => window.__vlmHydrated === true, null, { timeout: 30_000 });
}

/** On the Inspect page with an image picked: runs `model` with `prompt` (and at most
 * `maxNewTokens` when given) and waits on the inspection's page until the verdict is shown. */
export async function runInspection(page, { model, prompt, maxNewTokens, timeout = 120_000 }) {
  const form = page.locator('#inspect-form');
  await form.locator('select[name="form[model]"]').selectOption(model);
  await form.locator('select[name="form[prompt]"]').selectOption(prompt);
  if (maxNewTokens !== undefined) await form.locator('input[name="form[max_new_tokens]"]').fill(String(maxNewTokens));
  await page.click('#inspect-run');
  await page.waitForURL(/\/inspect\/\d+$/);
  await waitForHydration(page);
  await page.locator('#verdict').waitFor({ timeout });
}

/** A tiny LLaVA folder in a temporary directory: the parity fixture's weights and a word-level
 * tokenizer with <image> = 127. */
export function tinyLlava(prefix = 'tiny-llava-') {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const fixture = path.join(root, 'vlm/tests/fixtures/tiny-llava');
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(fixture, f), path.join(dir, f));
  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2, USER: 3, ':': 4, ASSISTANT: 5, yes: 6 };
  for (let i = 7; i < 127; i++) vocab[`w${i}`] = i;
  vocab['<image>'] = 127;
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 127, content: '<image>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  }));
  return dir;
}
