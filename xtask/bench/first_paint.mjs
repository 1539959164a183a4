// `cargo xtask bench --only web`: first contentful paint of pages in headless Chromium.
// usage: node first_paint.mjs '<json: {chromium, node_modules, runs, pages: {name: url}}>'
// Prints one JSON line {name: median FCP in ms}. Each load is a fresh browser context (cold
// cache), so every run fetches the page, the stylesheet and the browser code again.

import { createRequire } from "node:module";
import path from "node:path";

const config = JSON.parse(process.argv[2]);
const require = createRequire(path.join(config.node_modules, "noop.js"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const medians = {};
try {
  for (const [name, url] of Object.entries(config.pages)) {
    const samples = [];
    for (let i = 0; i < config.runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(url, { waitUntil: "load" });
      const fcp = await page.evaluate(() => new Promise((resolve) => {
        const seen = performance.getEntriesByName("first-contentful-paint")[0];
        if (seen) return resolve(seen.startTime);
        new PerformanceObserver((list) => resolve(list.getEntries()[0].startTime))
          .observe({ type: "paint", buffered: true });
      }));
      samples.push(fcp);
      await context.close();
    }
    samples.sort((a, b) => a - b);
    medians[name] = samples[Math.floor(samples.length / 2)];
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(medians));
