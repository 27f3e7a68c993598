// A person's purchase through the Storefront web pages, in headless Chromium.
//
//   node purchase.mjs <shop-url> [artifact-dir]
//
// Registers through the form, searches, opens a product, adds it to the cart, is declined with
// the declined test card, pays with the succeeding one, and finds the order as paid in the order
// history. Every step asserts on what the page shows. Screenshots of each step go to the artifact
// directory (default target/browser-artifacts); on failure the last page is saved as failure.png.
// Exit code 0 only when every step passed.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.STOREFRONT_CHROMIUM || '/usr/bin/chromium';
// The closed network of build machines makes Chromium's own background traffic (updates, sync,
// QUIC probes) fail noisily or stall start-up; none of it is needed to drive a page.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_TIMEOUT_MS = 20_000;
const GOOD_CARD = '4242 4242 4242 4242';
const DECLINED_CARD = '4000 0000 0000 0002';
const SEARCH = 'coffee';

const [shopArg, artifactArg] = process.argv.slice(2);
if (!shopArg) {
  console.error('usage: node purchase.mjs <shop-url> [artifact-dir]');
  process.exit(2);
}
const shop = shopArg.replace(/\/+$/, '');
const artifacts = resolve(artifactArg || 'target/browser-artifacts');
mkdirSync(artifacts, { recursive: true });

const steps = [];
let shotNumber = 0;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(page, selector) {
  return ((await page.locator(selector).first().textContent({ timeout: STEP_TIMEOUT_MS })) || '')
    .replace(/\s+/g, ' ')
    .trim();
}

async function shot(page, name) {
  shotNumber += 1;
  const file = join(artifacts, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function step(page, name, body) {
  const started = Date.now();
  await body();
  const file = await shot(page, name);
  steps.push({ step: name, ms: Date.now() - started, url: page.url(), screenshot: file });
  console.log(`ok   ${name} (${Date.now() - started} ms) ${page.url()}`);
}

async function submitAndWait(page, selector) {
  await Promise.all([page.waitForNavigation({ timeout: STEP_TIMEOUT_MS }), page.click(selector)]);
}

async function payWith(page, card) {
  await page.fill('#cardNumber', card);
  await page.fill('#expMonth', '12');
  await page.fill('#expYear', String(new Date().getFullYear() + 3));
  await page.fill('#cvc', '123');
  await submitAndWait(page, '#place-order');
}

async function purchase(page) {
  const email = `shopper-${Date.now()}-${Math.floor(Math.random() * 1e6)}@browser.test`;
  let product = {};
  let orderId = '';

  await step(page, 'home', async () => {
    const resp = await page.goto(`${shop}/`, { waitUntil: 'load' });
    check(resp && resp.status() === 200, `home page answered ${resp && resp.status()}`);
    const cards = await page.locator('li.product-card').count();
    check(cards > 0, 'the home page lists no products');
    check((await page.title()).length > 0, 'the home page has no title');
    const css = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
    check(css && !/^"?Times/.test(css), `the stylesheet did not apply (body font ${css})`);
  });

  await step(page, 'register', async () => {
    await page.click('#register-link');
    await page.waitForSelector('#register-form');
    await page.fill('#name', 'Browser Shopper');
    await page.fill('#email', email);
    await page.fill('#password', 'a-good-password');
    await submitAndWait(page, '#register-submit');
    check(
      (await page.locator('#register-error, #email-error').count()) === 0,
      `registration was refused: ${await page.locator('#register-error, #email-error').allTextContents()}`,
    );
    await page.waitForSelector('#logout-button', { timeout: STEP_TIMEOUT_MS });
    check((await page.locator('#orders-link').count()) === 1, 'no Orders link after registering');
  });

  await step(page, 'search', async () => {
    await page.fill('#search-q', SEARCH);
    await submitAndWait(page, '#search-submit');
    check(new URL(page.url()).searchParams.get('q') === SEARCH, `search went to ${page.url()}`);
    const names = await page.locator('li.product-card a.product-link').allTextContents();
    check(names.length > 0, `searching "${SEARCH}" found nothing`);
    const count = await text(page, '#result-count');
    check(count.startsWith(String(names.length)) || /\d+ products?/.test(count), `result count reads "${count}"`);
    const card = page.locator('li.product-card').first();
    product.id = await card.getAttribute('data-product-id');
    product.name = (await card.locator('a.product-link').textContent()).trim();
    product.price = (await card.locator('.price').textContent()).trim();
    check(product.id && product.name, 'the first search result has no id or name');
  });

  await step(page, 'product', async () => {
    await submitAndWait(page, `li.product-card[data-product-id="${product.id}"] a.product-link`);
    check((await text(page, '#product-name')) === product.name, `product page shows "${await text(page, '#product-name')}", not "${product.name}"`);
    check((await text(page, '#product-price')) === product.price, `product price ${await text(page, '#product-price')} differs from the listing's ${product.price}`);
    const stock = await text(page, '#stock-status');
    check(stock.length > 0, 'no stock status on the product page');
    check(await page.locator('#add-to-cart').isEnabled(), `cannot add to cart (stock: "${stock}")`);
    const img = await page.locator('.product-detail img').evaluate((el) => el.complete && el.naturalWidth > 0);
    check(img, 'the product image did not load');
  });

  await step(page, 'add-to-cart', async () => {
    await page.fill('#quantity', '2');
    await submitAndWait(page, '#add-to-cart');
    await page.waitForSelector('#cart-count', { timeout: STEP_TIMEOUT_MS });
    check((await text(page, '#cart-count')) === '2', `cart count reads "${await text(page, '#cart-count')}" after adding 2`);
  });

  await step(page, 'cart', async () => {
    await submitAndWait(page, '#cart-link');
    const line = page.locator(`tr.cart-line[data-product-id="${product.id}"]`);
    check((await line.count()) === 1, 'the product is not in the cart');
    check((await line.locator('input[name=quantity]').inputValue()) === '2', 'the cart line does not hold 2 units');
    check((await line.textContent()).includes(product.name), 'the cart line does not name the product');
    product.total = await text(page, '#cart-total');
    check(/\d/.test(product.total), `cart total reads "${product.total}"`);
  });

  await step(page, 'checkout', async () => {
    await submitAndWait(page, '#checkout-link');
    await page.waitForSelector('#checkout-form');
    check((await text(page, '#checkout-total')) === product.total, `checkout total ${await text(page, '#checkout-total')} differs from the cart's ${product.total}`);
  });

  await step(page, 'declined', async () => {
    await payWith(page, DECLINED_CARD);
    const error = await text(page, '#checkout-error');
    check(/declined/i.test(error), `the declined card shows "${error}" instead of a decline message`);
    check(new URL(page.url()).pathname === '/checkout', `after a decline the shopper is at ${page.url()}`);
    check((await page.locator('#checkout-form').count()) === 1, 'no checkout form to try another card');
    check((await text(page, '#checkout-total')) === product.total, 'the cart changed after the decline');
  });

  await step(page, 'confirmation', async () => {
    await payWith(page, GOOD_CARD);
    const url = new URL(page.url());
    const match = url.pathname.match(/^\/orders\/([^/]+)$/);
    check(match && url.searchParams.get('placed') === '1', `after paying the shopper is at ${page.url()}`);
    orderId = decodeURIComponent(match[1]);
    const confirmation = await text(page, '#order-confirmation');
    check(/confirmed/i.test(confirmation), `confirmation reads "${confirmation}"`);
    check(/paid/i.test(await text(page, '#order-status')), `order status reads "${await text(page, '#order-status')}"`);
    check((await page.locator('#order').getAttribute('data-status')) === 'paid', 'the order is not paid');
    check((await text(page, '#order-lines')).includes(product.name), 'the order does not list the product');
    check((await text(page, '#order-total')) === product.total, `order total ${await text(page, '#order-total')} differs from the cart's ${product.total}`);
    check((await page.locator('#cart-count').count()) === 0 || (await text(page, '#cart-count')) === '0', 'the cart was not emptied by the order');
  });

  await step(page, 'order-history', async () => {
    await submitAndWait(page, '#orders-link');
    const row = page.locator(`#orders-table tr.order-row[data-order-id="${orderId}"]`);
    check((await row.count()) === 1, `order ${orderId} is not in the order history`);
    check((await row.getAttribute('data-status')) === 'paid', `order history shows status ${await row.getAttribute('data-status')}`);
    check(/paid/i.test((await row.locator('.badge').textContent()) || ''), 'the badge does not say paid');
    check((await row.textContent()).includes(product.total), 'the order history row does not show the total');
    const failed = await page.locator('#orders-table tr.order-row[data-status=failed]').count();
    check(failed === 1, `the declined attempt shows as ${failed} failed orders, expected 1`);
  });

  return { email, product, orderId };
}

const userDataDir = mkdtempSync(join(tmpdir(), 'storefront-chromium-'));
let context;
let exitCode = 0;
let outcome = {};
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 500) pageErrors.push(`${r.status()} from ${r.url()}`);
  });
  try {
    outcome = await purchase(page);
    check(pageErrors.length === 0, `the pages reported errors: ${pageErrors.join('; ')}`);
    console.log(`PASS purchase: order ${outcome.orderId} of ${outcome.product.name} paid`);
  } catch (e) {
    exitCode = 1;
    outcome.error = String(e && e.message ? e.message : e);
    console.error(`FAIL ${outcome.error}`);
    try {
      const file = join(artifacts, 'failure.png');
      await page.screenshot({ path: file, fullPage: true });
      writeFileSync(join(artifacts, 'failure.html'), await page.content());
      console.error(`     at ${page.url()}; screenshot ${file}`);
    } catch {
      // The page may be gone; the error above is what matters.
    }
  }
} catch (e) {
  exitCode = 1;
  outcome.error = `could not start Chromium at ${CHROMIUM}: ${e && e.message ? e.message : e}`;
  console.error(`FAIL ${outcome.error}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
writeFileSync(join(artifacts, 'purchase.json'), JSON.stringify({ shop, ...outcome, steps }, null, 2));
process.exit(exitCode);
