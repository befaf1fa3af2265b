// Shared set-up for the browser tests: Debian's Chromium, the server's URL and the admin login.
import { chromium } from 'playwright-core';

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
