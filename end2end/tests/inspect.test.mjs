// Part B in the browser: a member-level user picks a demo image on the Inspect page, runs a
// Chain-of-Image prompt on a tiny LLaVA and sees the reply stream in beside the template; then
// launches an evaluation and reads its Table 1, Figure-3 chart and per-image browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { BASE_URL, ADMIN_PASSWORD, launch, runInspection, signIn, tinyLlava, waitForHydration } from './helpers.mjs';

/** The tiny LLaVA, registered as `tiny-llava-b` with the binary on the server's data folder. */
function registerTinyLlava() {
  const dir = tinyLlava('tiny-llava-b-');
  execFileSync(process.env.VLM_INSPECT_BIN, ['model', 'add', 'tiny-llava-b', dir, '--data-dir', process.env.VLM_INSPECT_E2E_DATA]);
  return dir;
}

let browser;
let model;
before(async () => { browser = await launch(); model = registerTinyLlava(); });
after(async () => { await browser?.close(); fs.rmSync(model, { recursive: true, force: true }); });

test('inspect a demo image with a CoI prompt and watch the reply stream in', async () => {
  const page = await browser.newPage();
  await signIn(page, 'admin', ADMIN_PASSWORD);
  await page.click('a[href="/inspect"]');
  await page.waitForURL(`${BASE_URL}/inspect`);
  await waitForHydration(page);
  const tile = page.locator('#pick-grid button.tile').first();
  await tile.waitFor();
  await tile.click();
  await page.locator('#chosen').waitFor();
  await runInspection(page, { model: 'tiny-llava-b', prompt: 'P1', maxNewTokens: 12 });
  assert.ok((await page.locator('#reply').innerText()).trim().length > 0, 'the reply is shown');
  assert.match(await page.locator('#verdict').innerText(), /^(normal|anomalous|undecided)$/);
  assert.equal(await page.locator('#template-image').count(), 1, 'the template is shown beside the test image');
  await page.goto(`${BASE_URL}/inspect`);
  await page.locator('#inspections a').first().waitFor();
  await page.close();
});

test('launch an evaluation and read its tables, chart and per-image browser', async () => {
  const page = await browser.newPage();
  await signIn(page, 'admin', ADMIN_PASSWORD);
  await page.goto(`${BASE_URL}/evaluations`);
  await waitForHydration(page);
  const form = page.locator('#eval-form');
  await form.waitFor();
  await form.locator('select[name="form[model]"]').selectOption('tiny-llava-b');
  await form.locator('select[name="form[dataset]"]').selectOption('loco-synth');
  await form.locator('input[name="form[prompts]"]').fill('plain,P1');
  await form.locator('input[name="form[limit]"]').fill('4');
  await form.locator('input[name="form[max_new_tokens]"]').fill('4');
  await page.click('#eval-launch');
  await page.locator('#eval-launched a').waitFor();
  await page.click('#eval-launched a');
  await page.waitForURL(/\/evaluations\/\d+$/);
  await waitForHydration(page);
  await page.waitForFunction(() => document.querySelector('#eval-state')?.dataset.state === 'succeeded', null, { timeout: 300_000 });
  await page.locator('#table1 tr[data-prompt="P1"]').waitFor();
  assert.equal(await page.locator('#table1 tbody tr').count(), 2);
  assert.equal(await page.locator('#accuracy-chart rect.bar').count(), 6, 'three bars per prompt');
  assert.equal(await page.locator('#predictions tbody tr').count(), 8, '4 images × 2 prompts');
  // Filtering to wrong verdicts hides the right ones.
  const right = await page.locator('#predictions tbody tr[data-correct="true"]').count();
  await page.check('#only-wrong');
  assert.equal(await page.locator('#predictions tbody tr.hidden').count(), right);
  await page.close();
});
