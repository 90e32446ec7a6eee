// Open a portkit web bundle's index.html in headless Chromium (driven by playwright-core), click "Run",
// and write what the page computed (its sample inputs and the outputs) as JSON, plus a screenshot.
// usage: node browser_run.mjs PAGE_URL OUT.json SCREENSHOT.png [CHROMIUM]
// The page imports onnxruntime-web from the CDN; requests there are answered from
// node_modules/onnxruntime-web/dist (same version), so the test needs no network and runs the page as shipped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [url, outPath, shotPath, exe = '/usr/bin/chromium'] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'node_modules', 'onnxruntime-web', 'dist');
const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'portkit-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: exe,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 900, height: 640 },
});
const log = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  // anything else off this machine is refused (the page must not need the network); registered first:
  // playwright tries the routes registered last first, so the CDN route below wins for its URLs
  await page.route(/^https?:\/\/(?!127\.0\.0\.1|localhost)/, (route) => route.abort());
  await page.route(/^https:\/\/cdn\.jsdelivr\.net\/npm\/onnxruntime-web@[^/]+\/dist\/(.+)$/, async (route) => {
    const name = new URL(route.request().url()).pathname.split('/dist/')[1];
    const file = path.join(dist, path.basename(name));
    if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: `not in node_modules: ${name}` });
    return route.fulfill({ status: 200, body: fs.readFileSync(file),
      headers: { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
        'access-control-allow-origin': '*' } });
  });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('status').textContent !== 'loading…', null,
    { timeout: 60000 }).catch(() => log.push('timeout: the page never left "loading…"'));
  const status = await page.textContent('#status');
  let result = null;
  if (status === 'ready') {
    await page.click('#run');
    await page.waitForFunction(() => window.portkitLast !== undefined, null, { timeout: 60000 });
    result = await page.evaluate(() => window.portkitLast);
  }
  await page.screenshot({ path: shotPath, fullPage: true });
  fs.writeFileSync(outPath, JSON.stringify({ status, result, log,
    userAgent: await page.evaluate(() => navigator.userAgent) }));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
