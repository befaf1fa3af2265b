// Part A in the browser: an admin launches a LoRA run of a tiny LLaVA on the demo split, the run
// page's loss curve grows as server-sent events arrive, and the run ends with a registered model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { BASE_URL, ADMIN_PASSWORD, launch, signIn, tinyLlava, waitForHydration } from './helpers.mjs';

let browser;
let model;
before(async () => { browser = await launch(); model = tinyLlava(); });
after(async () => { await browser?.close(); fs.rmSync(model, { recursive: true, force: true }); });

test('launch a training run and watch its loss curve grow live', async () => {
  const page = await browser.newPage();
  await signIn(page, 'admin', ADMIN_PASSWORD);
  await page.click('a[href="/training"]');
  await page.waitForURL(`${BASE_URL}/training`);
  await waitForHydration(page);

  // The demo dataset's split key, from the datasets table.
  const split = await (async () => {
    const p = await browser.newPage();
    await p.context().addCookies(await page.context().cookies());
    await p.goto(`${BASE_URL}/datasets`);
    const text = await p.locator('#datasets tr[data-dataset="loco-synth"]').innerText();
    await p.close();
    return text.match(/split-\S+/)[0];
  })();

  const form = page.locator('#train-form');
  await form.waitFor();
  assert.equal(await form.locator('input[name="form[epochs]"]').inputValue(), '30', "the paper's 30 epochs by default");
  assert.equal(await form.locator('input[name="form[learning_rate]"]').inputValue(), '0.0001');
  await form.locator('input[name="form[base_model]"]').fill(model);
  await form.locator('input[name="form[dataset]"]').fill('loco-synth');
  await form.locator('input[name="form[split]"]').fill(split);
  await form.locator('input[name="form[name]"]').fill('tiny-llava-e2e');
  await form.locator('input[name="form[batch_size]"]').fill('8');
  await form.locator('input[name="form[learning_rate]"]').fill('0.001');
  await form.locator('button[type=submit]').click();
  await page.locator('#train-launched a').waitFor();
  await page.click('#train-launched a');
  await page.waitForURL(/\/training\/\d+$/);
  await waitForHydration(page);

  // Points arrive while the page is open (the server-rendered curve may start empty).
  const points = () => page.locator('#loss-curve').getAttribute('data-points').then(Number);
  const first = await points();
  await page.waitForFunction((n) => Number(document.querySelector('#loss-curve')?.getAttribute('data-points')) > n, first, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelector('#run-progress')?.dataset.state === 'succeeded', null, { timeout: 300_000 });
  await page.locator('#run-model').waitFor();
  assert.equal(await page.locator('#run-model').innerText(), 'tiny-llava-e2e');
  assert.ok(await points() > first, 'the curve grew');
  assert.match(await page.locator('#lr-curve').getAttribute('data-points'), /^[1-9]\d*$/);
  // The curve is drawn, not only counted: a line with a visible stroke and some length.
  const drawn = await page.locator('#loss-curve polyline').evaluate((e) => ({ stroke: getComputedStyle(e).stroke, length: e.getTotalLength() }));
  assert.notEqual(drawn.stroke, 'none', 'the loss curve has a stroke');
  assert.ok(drawn.length > 0, 'the loss curve has length');
  await page.close();
});
