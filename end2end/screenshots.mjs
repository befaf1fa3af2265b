// The README's screenshots (run by scripts/screenshots.sh against a server on the defaults).
import { BASE_URL, ADMIN_PASSWORD, launch, runInspection, signIn, waitForHydration } from './tests/helpers.mjs';

const out = process.argv[2];
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await signIn(page, 'admin', ADMIN_PASSWORD);

// Inspect: the fine-tuned default asked the plain question about a test-side anomaly it
// detects and names (a broken divider; docs/models/default.md has how often it does).
// The default model installs beside the starting server: wait until Inspect offers it.
for (let i = 0; ; i++) {
  await page.goto(`${BASE_URL}/inspect`);
  await waitForHydration(page);
  if (await page.locator('#inspect-form select[name="form[model]"] option[value="vlm-default"]').count() > 0) break;
  if (i === 60) throw new Error('vlm-default was not installed within two minutes');
  await page.waitForTimeout(2000);
}
await page.locator('#pick-grid button.tile[title$="breakfast_box/test/structural_anomalies/005.png"]').click();
await runInspection(page, { model: 'vlm-default', prompt: 'plain', timeout: 300_000 });
await page.screenshot({ path: `${out}/inspect.png`, fullPage: true });

// The first evaluation (queued at the first start).
await page.goto(`${BASE_URL}/evaluations`);
await page.locator('#eval-runs a').first().click();
await page.waitForURL(/\/evaluations\/\d+$/);
await waitForHydration(page);
await page.waitForFunction(() => document.querySelector('#eval-state')?.dataset.state === 'succeeded', null, { timeout: 1_200_000 });
// The live page refetches its tables after the end notice; a reload shows the final ones.
await page.reload();
await waitForHydration(page);
// The tables and the chart; the per-image browser below runs to 110 rows.
await page.screenshot({ path: `${out}/evaluation.png`, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1500 } });

// A short training run on the demo split, caught while its curve grows.
await page.goto(`${BASE_URL}/training`);
await waitForHydration(page);
const split = await page.evaluate(async () => (await (await fetch('/api/eval/choices', { method: 'POST' })).json()).splits[0][1]);
const form = page.locator('#train-form');
await form.locator('input[name="form[base_model]"]').fill('vlm-default-stage1');
await form.locator('input[name="form[dataset]"]').fill('loco-synth');
await form.locator('input[name="form[split]"]').fill(split);
await form.locator('input[name="form[epochs]"]').fill('1');
await form.locator('input[name="form[train_projector]"]').check();
await form.locator('button[type=submit]').click();
await page.locator('#train-launched a, #train-form ~ .error, .error[role=alert]').first().waitFor();
if (await page.locator('#train-launched a').count() === 0) {
  throw new Error(`training did not start: ${await page.locator('.error[role=alert]').first().innerText()}`);
}
await page.locator('#train-launched a').click();
await page.waitForURL(/\/training\/\d+$/);
await waitForHydration(page);
await page.waitForFunction(() => Number(document.querySelector('#loss-curve')?.getAttribute('data-points')) >= 8, null, { timeout: 600_000 });
await page.screenshot({ path: `${out}/training.png`, fullPage: true });
await browser.close();
console.log(`screenshots in ${out}`);
