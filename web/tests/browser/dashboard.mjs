// Drives the dashboard in headless Chromium for web/tests/browser.rs and reports what it saw.
//
// The Rust test owns the services and the data; this script owns the browser. They talk over
// stdio, one line at a time: the script prints `ACTION <name>` and waits for `OK <json>` on
// stdin (the Rust side has done it: sent events, restarted a service), and ends with
// `RESULT <json>`: observations only. Every assertion is made in Rust, against the expected
// scorecards and the engine.
//
// usage: node dashboard.mjs '<json config>'   (see `Config` in browser.rs)

import { createRequire } from "node:module";
import readline from "node:readline";
import path from "node:path";

const config = JSON.parse(process.argv[2]);
const require = createRequire(path.join(config.node_modules, "noop.js"));
const { chromium } = require("playwright-core");

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function action(name) {
  console.log(`ACTION ${name}`);
  const { value, done } = await lines.next();
  if (done || !value.startsWith("OK")) throw new Error(`action ${name} failed: ${value}`);
  return JSON.parse(value.slice(2).trim() || "null");
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { console_errors: [], page_errors: [], csp_violations: [] };

// Every page of a context reports its errors, and the Content-Security-Policy violations the
// browser saw: each one as an event in the page (recorded before any page script runs) and
// as Chromium's console message, so a violation cannot pass unnoticed.
async function watch(context) {
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const hook = (page) => {
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      result.console_errors.push(m.text());
      if (m.text().startsWith("CSP violation") || m.text().includes("Content Security Policy")) {
        result.csp_violations.push(`${page.url()}: ${m.text()}`);
      }
    });
    page.on("pageerror", (e) => result.page_errors.push(String(e)));
  };
  context.pages().forEach(hook);
  context.on("page", hook);
}
const shot = (page, name) => page.screenshot({ path: path.join(config.screenshots, name), fullPage: true });

async function open(page, url) {
  await page.goto(config.url + url, { waitUntil: "load" });
  // Hydrated and subscribed: the indicator only turns live from the browser code.
  await page.waitForSelector('.connection[data-state="live"]', { timeout: 30000 });
}

// The connection indicator's states, in order, as the page shows them.
async function recordConnection(page) {
  await page.evaluate(() => {
    window.__states = [];
    const badge = document.querySelector(".connection");
    const note = () => {
      const s = badge.dataset.state;
      if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    };
    note();
    new MutationObserver(note).observe(badge, { attributes: true });
  });
}

async function cards(page) {
  return page.$$eval(".card", (cards) => cards.map((card) => ({
    id: card.dataset.match,
    live: card.dataset.live === "true",
    scores: [...card.querySelectorAll(".innings-scores li")].map((li) => li.querySelector(".score").textContent),
    status: card.querySelector(".status").textContent,
  })));
}

async function matchCentre(page) {
  return page.$eval(".match-centre", (article) => ({
    id: article.dataset.match,
    seq: Number(article.dataset.seq),
    innings: [...article.querySelectorAll(".match-header .innings-scores li")].map((li) => ({
      team: li.querySelector(".team").textContent,
      score: li.querySelector(".score").textContent,
      overs: li.querySelector(".overs").textContent,
    })),
    status: article.querySelector(".match-header .status").textContent,
    manhattan_bars: [...article.querySelectorAll("svg.manhattan")].map((svg) => svg.querySelectorAll("rect.bar").length),
    worm_points: [...article.querySelectorAll("svg.worm g.series")].map((g) => g.querySelectorAll("circle.point").length),
    win_points: article.querySelectorAll("svg.win circle.point").length,
    recent_chips: article.querySelectorAll(".recent .chip").length,
    feed_items: article.querySelectorAll(".feed li").length,
    batting_rows: [...article.querySelectorAll(".innings-card table.batting tbody")].map((t) => t.rows.length),
  }));
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await watch(context);
  const page = await context.newPage();

  // Home: the replayed matches, then a new match arriving and moving without a reload.
  await open(page, "/");
  result.first_contentful_paint_ms = await page.evaluate(() =>
    performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null);
  result.home = await cards(page);
  await shot(page, "home.png");
  // Each card carries the seq of the last event it shows: wait for the events just sent.
  const cardAt = (id, seq) => page.waitForFunction(([id, seq]) =>
    Number(document.querySelector(`.card[data-match="${id}"]`)?.dataset.seq) >= seq,
    [id, seq], { timeout: 30000 });
  // A second tab on the match centre of a match that has not started: it must pick it up.
  const early = await context.newPage();
  await open(early, `/match/${config.live_match}`);
  result.early_heading = await early.textContent("h1");
  const live = await action("start-live-match");
  await cardAt(live.id, live.seq);
  result.home_live_before = (await cards(page)).find((c) => c.id === live.id);
  await early.waitForFunction((seq) => Number(document.querySelector(".match-centre")?.dataset.seq) >= seq,
    live.seq, { timeout: 30000 });
  result.early_after = await matchCentre(early);
  await early.close();
  const advanced = await action("advance-live-match");
  await cardAt(live.id, advanced.seq);
  result.home_live_after = (await cards(page)).find((c) => c.id === live.id);
  await shot(page, "home-live.png");

  // A finished real match in the match centre.
  await open(page, `/match/${config.finished_match}`);
  result.finished = await matchCentre(page);
  await shot(page, "match-finished.png");

  // The live match: stream-stats restarts under the page, which must come back by itself.
  await open(page, `/match/${live.id}`);
  await recordConnection(page);
  result.live_before_restart = await matchCentre(page);
  await action("restart-stream-stats");
  await page.waitForFunction(() => window.__states.includes("reconnecting")
    && window.__states[window.__states.length - 1] === "live", null, { timeout: 60000 });
  const target = await action("finish-live-match");
  await page.waitForFunction((seq) => Number(document.querySelector(".match-centre")?.dataset.seq) >= seq,
    target.seq, { timeout: 60000 });
  result.connection_states = await page.evaluate(() => window.__states);
  result.live_after_restart = await matchCentre(page);
  await shot(page, "match-live-after-restart.png");

  // Phone width: nothing wider than the screen.
  const phone = await browser.newContext({ viewport: { width: 375, height: 800 }, isMobile: true });
  await watch(phone);
  const small = await phone.newPage();
  result.phone_overflow = {};
  for (const [name, url] of [["home", "/"], ["match", `/match/${config.finished_match}`], ["history", "/history"], ["pipeline", "/pipeline"]]) {
    await open(small, url);
    result.phone_overflow[name] = await small.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await shot(small, `phone-${name}.png`);
  }
  await phone.close();

  // History: a canned query, a query typed into the editor, a bad one, and a stored scorecard.
  await open(page, "/history");
  await page.click('.canned button:has-text("Top run scorers")');
  await page.waitForSelector(".sql-results tbody tr", { timeout: 30000 });
  result.canned = await page.$$eval(".sql-results tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  await page.fill("#sql", config.good_sql);
  await page.click('.console-actions button[type="submit"]');
  // The canned query's table is on screen until the new answer replaces it: wait for its columns.
  await page.waitForFunction((sql) => new URL(location.href).searchParams.get("sql") === sql, config.good_sql);
  await page.waitForFunction((columns) => [...document.querySelectorAll(".sql-results thead th")]
    .map((th) => th.textContent).join() === columns.join(), config.good_sql_columns, { timeout: 30000 });
  result.good_sql = {
    columns: await page.$$eval(".sql-results thead th", (th) => th.map((t) => t.textContent)),
    rows: await page.$$eval(".sql-results tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent))),
  };
  const download = page.waitForEvent("download", { timeout: 30000 });
  await page.click('.results-bar button[type="submit"]');
  const csv = await download;
  const fs = await import("node:fs/promises");
  result.csv = await fs.readFile(await csv.path(), "utf8");
  await shot(page, "history.png");
  await page.fill("#sql", config.bad_sql);
  await page.click('.console-actions button[type="submit"]');
  await page.waitForSelector(".sql-error", { timeout: 30000 });
  result.bad_sql_error = await page.textContent(".sql-error");
  await shot(page, "history-error.png");
  await page.click(`.stored a[href="/history/${config.finished_match}"]`);
  await page.waitForSelector(".innings-card");
  result.stored_scorecard = await page.$$eval(".innings-card h2", (h) => h.map((x) => x.textContent));
  await shot(page, "history-scorecard.png");

  // Pipeline: numbers from every service, updating.
  await open(page, "/pipeline");
  await page.waitForFunction(() => document.querySelectorAll('.services li[data-up="true"]').length === 3, null, { timeout: 30000 });
  result.pipeline = await page.$$eval(".tile", (tiles) => Object.fromEntries(tiles.map((t) => [t.id, t.querySelector(".value").textContent])));
  await shot(page, "pipeline.png");

  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (err) {
  // What the page showed when it gave up: the URL, the indicator's history, a screenshot.
  const pages = browser.contexts().flatMap((c) => c.pages());
  const last = pages[0];
  result.failure_page = last ? await last.evaluate(() => ({
    url: location.href,
    states: window.__states ?? null,
    seq: document.querySelector(".match-centre")?.dataset.seq ?? null,
    connection: document.querySelector(".connection")?.dataset.state ?? null,
  })).catch((e) => String(e)) : null;
  if (last) await shot(last, "failure.png").catch(() => {});
  console.log(`RESULT ${JSON.stringify({ ...result, failure: String(err.stack || err) })}`);
} finally {
  await browser.close();
  process.exit(0);
}
