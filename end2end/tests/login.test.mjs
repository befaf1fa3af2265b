// Signs in, uses a hydrated form that calls a server function, and signs out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, ADMIN_PASSWORD, launch, signIn, waitForHydration } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a wrong password shows the server\'s message without leaving the page', async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE_URL}/`);
  assert.match(page.url(), /\/login\?next=\/$/);
  await waitForHydration(page);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('#login-form button[type=submit]');
  const alert = page.locator('p.error[role=alert]');
  await alert.waitFor();
  assert.match(await alert.innerText(), /wrong username or password/);
  await page.close();
});

test('an admin signs in, adds a user through a server function, and signs out', async () => {
  const page = await browser.newPage();
  await signIn(page, 'admin', ADMIN_PASSWORD);
  assert.match(await page.locator('#device').innerText(), /cpu/);

  await page.click('a[href="/admin/users"]');
  await page.waitForURL(`${BASE_URL}/admin/users`);
  await waitForHydration(page);
  // A full page load would drop this marker; a hydrated action keeps it.
  await page.evaluate(() => { window.__sameDocument = true; });

  const name = `e2e-${Date.now()}`;
  await page.fill('#add-user input[name=username]', name);
  await page.selectOption('#add-user select[name=role]', 'reviewer');
  await page.click('#add-user button[type=submit]');
  await page.locator(`#users tr[data-user="${name}"]`).waitFor();
  const notice = await page.locator('p.notice').first().innerText();
  assert.match(notice, new RegExp(`User added: ${name}`));
  assert.match(notice, /shown once/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the form did not reload the page');
  const role = await page.locator(`#users tr[data-user="${name}"] select`).inputValue();
  assert.equal(role, 'reviewer');

  await page.click('#logout');
  await page.waitForURL(/\/login/);
  await page.goto(`${BASE_URL}/admin/users`);
  assert.match(page.url(), /\/login\?next=\/admin\/users$/);
  await page.close();
});
