// The review workflow in the browser: an admin runs an evaluation and shares its queue; a
// reviewer judges five items with the keyboard alone (one fix & accept); a second reviewer
// judges the blind overlap; the run page then shows κ and the human columns, and the admin
// promotes the fix to a QA annotation that the image page shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { BASE_URL, ADMIN_PASSWORD, launch, signIn, tinyLlava, waitForHydration } from './helpers.mjs';

const BIN = process.env.VLM_INSPECT_BIN;
const DATA = process.env.VLM_INSPECT_E2E_DATA;
const PASSWORD = 'review-e2e-password';
// Where to save the screenshot of the review screen for docs/review.md (unset: none).
const SHOTS = process.env.VLM_INSPECT_SHOTS;

function cli(args, input) {
  return execFileSync(BIN, [...args, '--data-dir', DATA], { input, encoding: 'utf8' });
}

let browser;
let model;
before(async () => {
  browser = await launch();
  model = tinyLlava('tiny-llava-r-');
  cli(['model', 'add', 'tiny-llava-r', model]);
  for (const name of ['rexa', 'rioa']) cli(['user', 'add', name, '--role', 'reviewer', '--password-stdin'], `${PASSWORD}\n`);
});
after(async () => { await browser?.close(); fs.rmSync(model, { recursive: true, force: true }); });

/** The item on screen: its image id and prompt. */
async function current(page) {
  const item = page.locator('#review-item');
  await item.waitFor();
  return `${await item.getAttribute('data-image')}/${await item.getAttribute('data-prompt')}`;
}

/** Presses keys one by one, then waits for another item (or the end of the queue). */
async function judge(page, keys) {
  const before = await current(page);
  for (const k of keys) await page.keyboard.press(k);
  await page.waitForFunction((b) => {
    const el = document.querySelector('#review-item');
    return document.querySelector('#review-done')
      || (el && `${el.dataset.image}/${el.dataset.prompt}` !== b);
  }, before, { timeout: 30_000 });
}

test('two reviewers judge a run with the keyboard; the run shows agreement; a fix becomes QA', async () => {
  const admin = await browser.newPage();
  await signIn(admin, 'admin', ADMIN_PASSWORD);
  await admin.goto(`${BASE_URL}/evaluations`);
  await waitForHydration(admin);
  const form = admin.locator('#eval-form');
  await form.waitFor();
  await form.locator('select[name="form[model]"]').selectOption('tiny-llava-r');
  await form.locator('select[name="form[dataset]"]').selectOption('loco-synth');
  await form.locator('input[name="form[prompts]"]').fill('plain');
  await form.locator('input[name="form[limit]"]').fill('8');
  await form.locator('input[name="form[max_new_tokens]"]').fill('4');
  await admin.click('#eval-launch');
  await admin.locator('#eval-launched a').waitFor();
  await admin.click('#eval-launched a');
  await admin.waitForURL(/\/evaluations\/\d+$/);
  const run = admin.url().match(/(\d+)$/)[1];
  await waitForHydration(admin);
  await admin.waitForFunction(() => document.querySelector('#eval-state')?.dataset.state === 'succeeded', null, { timeout: 300_000 });

  // Every item gets a blind second judgement, so both reviewers meet every item.
  cli(['review', 'plan', '--run', run, '--judgements', '1', '--overlap-percent', '100', '--seed', '1']);
  await admin.reload();
  await waitForHydration(admin);
  await admin.locator('#review-settings summary').click();
  for (const name of ['rexa', 'rioa']) {
    await admin.fill('#review-share-form input[name=username]', name);
    await admin.click('#review-share-form button[type=submit]');
    await admin.locator(`#review-shared .chip:has-text("${name}")`).waitFor();
  }

  // Rex: five items with the keyboard alone, the third fixed and accepted.
  const rex = await browser.newPage();
  await signIn(rex, 'rexa', PASSWORD);
  await rex.goto(`${BASE_URL}/review/${run}`);
  await waitForHydration(rex);
  let keystrokes = 0;
  const started = Date.now();
  let fixedImage;
  for (let i = 0; i < 5; i++) {
    if (i === 2) {
      fixedImage = (await current(rex)).split('/')[0];
      await rex.keyboard.press('d'); await rex.keyboard.press('p'); await rex.keyboard.press('3');
      await rex.keyboard.press('e');
      await rex.locator('#fix').fill('A pushpin is missing in the lower left compartment.');
      keystrokes += 4 + 1; // d p 3 e, then the text, then Ctrl+Enter
      if (SHOTS) {
        await rex.setViewportSize({ width: 1280, height: 1000 });
        await rex.screenshot({ path: `${SHOTS}/review.png`, fullPage: true });
      }
      await judge(rex, ['Control+Enter']);
    } else {
      keystrokes += 4;
      await judge(rex, ['d', 'x', '2', 'Enter']);
    }
  }
  const perItemMs = (Date.now() - started) / 5;
  console.log(`review: 5 items by keyboard, ${keystrokes} keystrokes (${keystrokes / 5} per item), ${perItemMs.toFixed(0)} ms per item including the save and the next item's load`);
  assert.match(await rex.locator('#review-progress').innerText(), /rexa: 5/);
  // Rex sees nothing outside the run: the datasets are closed to reviewers.
  const closed = await rex.request.post(`${BASE_URL}/api/datasets`, { form: {} });
  assert.equal(closed.status(), 403);

  // Rio: the overlap, blind until Rio's own judgement is in.
  const rio = await browser.newPage();
  await signIn(rio, 'rioa', PASSWORD);
  await rio.goto(`${BASE_URL}/review/${run}`);
  await waitForHydration(rio);
  let blindSeen = 0;
  for (let i = 0; i < 5; i++) {
    await rio.locator('#review-item').waitFor();
    assert.equal(await rio.locator('#review-others').count(), 0, 'others are hidden before judging');
    if (await rio.locator('#review-blind').count()) blindSeen++;
    // Agrees with Rex on the verdict, differs on some explanations.
    await judge(rio, ['d', i % 2 ? 'x' : 'p', String(2 + (i % 3)), 'Enter']);
  }
  assert.equal(blindSeen, 5, 'each of the five was judged by rex first');

  // The run page: κ over the doubled items and the human columns.
  await admin.reload();
  await waitForHydration(admin);
  await admin.locator('#review-agreement').waitFor();
  assert.equal(await admin.locator('#review-agreement').getAttribute('data-items'), '5');
  const agreement = await admin.locator('#review-agreement').innerText();
  assert.match(agreement, /Cohen's κ verdict/);
  console.log(`review: ${agreement}`);
  console.log(`review: ${await admin.locator('#review-metric').innerText()}`);
  assert.equal(await admin.locator('#table1 td[data-col="human-verdict"]').count(), 1);
  assert.match(await admin.locator('#table1 td[data-col="human-verdict"]').innerText(), /0\.0 \(n=10\)/);
  assert.equal(await admin.locator('#table2 td[data-col="human-correct"]').count(), 1);

  // The fix becomes a QA annotation of the image.
  await admin.locator('#review-fixes button.promote').click();
  await admin.locator('#review-fixes li:has-text("QA annotation #")').waitFor();
  await admin.goto(`${BASE_URL}/images/${fixedImage}`);
  await waitForHydration(admin);
  await admin.locator('text=A pushpin is missing in the lower left compartment.').waitFor();
  for (const p of [admin, rex, rio]) await p.close();
});
