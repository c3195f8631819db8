// Browser test of the live page (run by examples/live-page/run --test, which
// starts PostgreSQL, NATS, the bridge and a static server first).
// Asserts on what a person sees: the table's cells, the error list.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const pageUrl = process.env.LIVE_PAGE_URL; // static server, with ?nats= set
const outputDir = process.env.LIVE_PAGE_OUTPUT ?? "live-page-output";
const seed = Number(process.env.LIVE_PAGE_SEED ?? Date.now() % 1000000);
const deadlineMs = 2000; // the promise: visible within 2 s of commit

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok" : "FAIL"}: ${what}`);
}

// A small seeded generator, so a failing run can be repeated (seed printed).
let state = seed || 1;
function random() {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
}
const alphabet = ["a", "Z", "é", "ß", "日", "本", " ", "'", "\"", "<", ">", "&", "😀", "-", "9"];
function randomName() {
  const length = 1 + Math.floor(random() * 12);
  let text = "";
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
  return text.trim() === "" ? "x" : text;
}

function sql(statement, ...values) {
  // psql variables carry the values, so no value is ever spliced into SQL.
  const args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"];
  values.forEach((value, i) => args.push("-v", `v${i + 1}=${value}`));
  return execFileSync("psql", args, { input: statement, encoding: "utf8" });
}

// Renames several users in one transaction (one message, several rows).
function renameInOneTransaction(pairs) {
  const statements = pairs.map((_, i) => `UPDATE users SET name = :'v${2 * i + 1}' WHERE id = :'v${2 * i + 2}';`);
  sql(`BEGIN;\n${statements.join("\n")}\nCOMMIT;`, ...pairs.flatMap(([key, name]) => [name, key]));
}

async function launch() {
  try {
    return await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  } catch (error) {
    console.log(`SKIP: Chromium cannot start on this machine: ${error.message.split("\n")[0]}`);
    console.log("0 passed, 0 failed, 1 skipped");
    process.exit(0);
  }
}

async function openPage(browser, query) {
  const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
  page.on("pageerror", (error) => console.log(`page error: ${error.message}`));
  await page.goto(`${pageUrl}&${query}`);
  await page.waitForFunction(() => document.getElementById("status").dataset.state === "live", null, {
    timeout: 10000,
  });
  return { page };
}

function cell(page, key, column) {
  return page.locator(`tr[data-key="${key}"] td[data-column="${column}"]`);
}

async function shownWithin(page, key, column, value, timeout) {
  try {
    await page.waitForFunction(
      ([key, column, value]) =>
        document.querySelector(`tr[data-key="${key}"] td[data-column="${column}"]`)?.textContent === value,
      [key, column, value],
      { timeout },
    );
    return true;
  } catch {
    return false;
  }
}

console.log(`live page test, seed ${seed} (LIVE_PAGE_SEED=${seed} repeats it)`);
mkdirSync(outputDir, { recursive: true });
const browser = await launch();
try {
  // 1. A viewer of all users sees every committed update within 2 s.
  const { page } = await openPage(browser, "user=viewer");
  const keys = sql("SELECT id FROM users ORDER BY id").trim().split("\n");
  check(keys.length > 0 && (await page.locator("#rows tbody tr").count()) === keys.length, "the page shows every row of rows.json");
  for (let round = 0; round < 12; round++) {
    const key = keys[Math.floor(random() * keys.length)];
    const name = randomName();
    sql("UPDATE users SET name = :'v1' WHERE id = :'v2'", name, key);
    check(await shownWithin(page, key, "name", name, deadlineMs), `viewer: user ${key}'s new name ${JSON.stringify(name)} shown within 2 s`);
  }
  const batch = keys.slice(0, 3).map((key) => [key, randomName()]);
  renameInOneTransaction(batch);
  for (const [key, name] of batch) {
    check(await shownWithin(page, key, "name", name, deadlineMs), `viewer: user ${key} updated in a 3-row transaction shown within 2 s`);
  }
  // Readable names for the screenshot (the README shows it).
  const people = [["1", "Ada Lovelace"], ["2", "Grace Hopper"], ["3", "Edsger Dijkstra"]];
  renameInOneTransaction(people);
  for (const [key, name] of people) {
    check(await shownWithin(page, key, "name", name, deadlineMs), `viewer: user ${key} renamed ${name} shown within 2 s`);
  }
  await page.screenshot({ path: join(outputDir, "live-page.png") });

  // 2. viewer_42 may see user 42 only: the server refuses the subscription to
  // user 7, the page shows why, and no message about user 7 ever arrives.
  const own = await openPage(browser, "user=viewer_42&keys=42,7");
  await own.page.waitForSelector("#errors li", { timeout: 5000 }).catch(() => {});
  const errors = await own.page.locator("#errors li").allTextContents();
  check(errors.some((text) => text.includes("ectowatch.users_updated.7") && /permission/i.test(text)), `viewer_42: the refused subscription is shown (${JSON.stringify(errors)})`);
  const before7 = await cell(own.page, "7", "name").textContent();
  const name42 = randomName();
  const name7 = randomName();
  sql("UPDATE users SET name = :'v1' WHERE id = 7", name7);
  sql("UPDATE users SET name = :'v1' WHERE id = 42", name42);
  check(await shownWithin(own.page, "42", "name", name42, deadlineMs), "viewer_42: own row's update shown within 2 s");
  // The viewer page proves user 7's message was published; viewer_42's page
  // must not have it (its last-message marker never names user 7).
  check(await shownWithin(page, "7", "name", name7, deadlineMs), "viewer: user 7's update was published");
  check((await cell(own.page, "7", "name").textContent()) === before7, "viewer_42: user 7's row never changes");
  const subjects42 = await own.page.evaluate(() => window.__subjects ?? []);
  check(!subjects42.some((subject) => subject.endsWith(".7")), "viewer_42: no message about user 7 reached the page");

  // 3. A wildcard subscription is refused to viewer_42 as well.
  const wide = await openPage(browser, "user=viewer_42");
  await wide.page.waitForSelector("#errors li", { timeout: 5000 }).catch(() => {});
  const wideErrors = await wide.page.locator("#errors li").allTextContents();
  check(wideErrors.some((text) => /permission/i.test(text)), "viewer_42: the wildcard subscription is refused");
  await own.page.screenshot({ path: join(outputDir, "live-page-viewer-42.png") });
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
