// The demo dataset imported on first start: filter the browser, open an image, toggle its mask.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, ADMIN_PASSWORD, launch, signIn, waitForHydration } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('browse the demo set, open an anomaly and toggle its ground-truth mask', async () => {
  const page = await browser.newPage();
  await signIn(page, 'admin', ADMIN_PASSWORD);
  await page.click('a[href="/datasets"]');
  await page.waitForURL(`${BASE_URL}/datasets`);
  await page.locator('#datasets tr[data-dataset="loco-synth"]').waitFor();
  assert.match(await page.locator('#datasets tr[data-dataset="loco-synth"]').innerText(), /220/);

  await page.click('#datasets a[href="/datasets/loco-synth"]');
  await page.waitForURL(`${BASE_URL}/datasets/loco-synth`);
  await waitForHydration(page);
  await page.locator('#filters').waitFor();
  await page.selectOption('#filters select[name=category]', 'pushpins');
  await page.selectOption('#filters select[name=label]', 'logical');
  await page.click('#filters button[type=submit]');
  await page.waitForURL(/category=pushpins/);
  await page.waitForFunction(() => document.querySelector('#match-count')?.textContent.startsWith('8 images match'));
  const tiles = page.locator('#thumbs a.thumb');
  assert.equal(await tiles.count(), 8);
  for (const label of await tiles.locator('span').allInnerTexts()) assert.match(label, /pushpins · logical/);

  await tiles.first().click();
  await page.waitForURL(/\/images\/\d+$/);
  await waitForHydration(page);
  await page.locator('#qa li').first().waitFor();
  assert.equal(await page.locator('#qa li').count(), 2);
  assert.match(await page.locator('#qa').innerText(), /Logical anomaly/);
  const overlay = page.locator('#mask-overlay');
  assert.equal(await overlay.isVisible(), false, 'the mask starts hidden');
  await page.check('#mask-toggle');
  await overlay.waitFor({ state: 'visible' });
  await page.uncheck('#mask-toggle');
  await overlay.waitFor({ state: 'hidden' });
  assert.ok(await page.evaluate(() => document.querySelector('#full-image').naturalWidth) > 0, 'the image loads');

  await page.click('#normals-link');
  await page.waitForURL(/label=good/);
  await page.close();
});
