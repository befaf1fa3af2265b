// QA drafting in the browser: an admin has a model draft annotations for three demo images
// from the dataset page, decides them on the drafts screen with the keyboard alone (accept,
// edit, reject with a reason), a stale second tab is refused with the first decision, and the
// dataset page counts the verified answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { BASE_URL, ADMIN_PASSWORD, launch, signIn, tinyLlava, waitForHydration } from './helpers.mjs';

const BIN = process.env.VLM_INSPECT_BIN;
const DATA = process.env.VLM_INSPECT_E2E_DATA;
const SHOTS = process.env.VLM_INSPECT_SHOTS;

let browser;
let model;
before(async () => {
  browser = await launch();
  model = tinyLlava('tiny-llava-d-');
  execFileSync(BIN, ['model', 'add', 'tiny-llava-d', model, '--data-dir', DATA]);
});
after(async () => { await browser?.close(); fs.rmSync(model, { recursive: true, force: true }); });

/** The draft on screen. */
async function draftId(page) {
  const item = page.locator('#draft-item');
  await item.waitFor();
  return item.getAttribute('data-draft');
}

/** Presses keys (or runs `act`), then waits until another draft is on screen. */
async function decide(page, act) {
  const before = await draftId(page);
  await act();
  await page.waitForFunction((b) => document.querySelector('#draft-item')?.dataset.draft !== b
    || /3 of 3/.test(document.querySelector('#drafts-progress')?.innerText ?? ''), before, { timeout: 30_000 });
}

test('a model drafts annotations and people accept, edit and reject them by keyboard', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, 'admin', ADMIN_PASSWORD);
  await page.goto(`${BASE_URL}/datasets/loco-synth`);
  await waitForHydration(page);
  const verified = async () => Number((await page.locator('#qa-verified').innerText()).match(/\((\d+) by a named person/)?.[1] ?? 0);
  const before = await verified();
  const form = page.locator('#drafting-form');
  await form.waitFor();
  await form.locator('select[name="form[model]"]').selectOption('tiny-llava-d');
  await form.locator('select[name="form[label]"]').selectOption('structural');
  await form.locator('input[name="form[include_annotated]"]').check();
  await form.locator('input[name="form[limit]"]').fill('3');
  await page.click('#drafting-launch');
  await page.locator('#drafting-launched a').waitFor();
  await page.click('#drafting-launched a');
  await page.waitForURL(/\/drafts\/\d+$/);
  const job = page.url().match(/(\d+)$/)[1];
  // The batch lane drafts the three images; the screen shows them once they are stored.
  for (let i = 0; ; i++) {
    await waitForHydration(page);
    if (/of 3 drafts/.test(await page.locator('#drafts-progress').innerText())) break;
    if (i === 120) throw new Error(`drafting job ${job} stored no 3 drafts in two minutes`);
    await page.waitForTimeout(1000);
    await page.reload();
  }
  // A second tab, loaded now: its versions go stale once the first tab decides.
  // A page of its own context: it signs in too.
  const stale = await browser.newPage();
  await signIn(stale, 'admin', ADMIN_PASSWORD);
  await stale.goto(`${BASE_URL}/drafts/${job}`);
  await waitForHydration(stale);
  await draftId(stale);

  // The prompt sits in a closed <details>: innerText of hidden content is empty.
  assert.match(await page.locator('#draft-item details pre').textContent(), /structural anomaly/);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/drafts.png`, fullPage: true });
  let keystrokes = 0;
  const started = Date.now();
  await decide(page, () => page.keyboard.press('a'));
  keystrokes += 1;
  await decide(page, async () => {
    await page.keyboard.press('e');
    await page.locator('#draft-text').fill('A structural anomaly: the surface is scratched at the top left.');
    await page.keyboard.press('Control+Enter');
  });
  keystrokes += 2;
  await decide(page, async () => {
    await page.keyboard.press('r');
    await page.locator('#draft-reason').fill('it names no defect');
    await page.keyboard.press('Enter');
  });
  keystrokes += 2;
  console.log(`drafts: 3 decided by keyboard, ${keystrokes} keystrokes besides typed text, ${((Date.now() - started) / 3).toFixed(0)} ms per draft including the save`);
  assert.match(await page.locator('#drafts-progress').innerText(), /3 of 3 drafts decided/);

  // The stale tab's accept is refused with the first decision, and it reloads.
  await stale.keyboard.press('a');
  await stale.locator('#draft-problem').waitFor();
  assert.match(await stale.locator('#draft-problem').innerText(), /admin decided this draft first/);

  await page.goto(`${BASE_URL}/datasets/loco-synth`);
  await waitForHydration(page);
  const counts = await page.locator('#qa-verified').innerText();
  console.log(`drafts: dataset page: ${counts}`);
  assert.equal(await verified(), before + 2, counts);
  for (const p of [page, stale]) await p.close();
});
