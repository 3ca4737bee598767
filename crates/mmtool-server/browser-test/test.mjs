// Browser test of the mmtool web demo in a real headless Chromium.
//
// Starts `mmtool serve` on a free loopback port, loads the page, submits a
// text request and a request with an image file, checks that ranked tool
// cards render, and saves screenshots under target/browser-test/.
//
// Env: MMTOOL_BIN (default <repo>/target/debug/mmtool), CHROMIUM (default
// /usr/bin/chromium), MMTOOL_DATA_DIR (passed through to the server).

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = process.env.MMTOOL_BIN || join(repo, "target/debug/mmtool");
const outDir = join(repo, "target/browser-test");
mkdirSync(outDir, { recursive: true });

function fail(msg) {
  console.error("browser test FAILED: " + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

// A small valid RGB PNG, built here so the test needs no fixture files.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + 3 * w);
    for (let x = 0; x < w; x++) row.set([(x * 4) & 255, (y * 4) & 255, 180], 1 + 3 * x);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0)),
  ]);
}

function startServer() {
  return new Promise((resolveUrl, reject) => {
    const proc = spawn(bin, ["serve", "--backend", "bm25", "--addr", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
    const timer = setTimeout(() => reject(new Error("server did not start within 120 s")), 120_000);
    let buf = "";
    proc.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolveUrl({ proc, url: m[1] }); }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${bin} exited with ${code} before listening`)); });
    proc.on("error", (e) => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message}`)); });
  });
}

const { proc, url } = await startServer();
const profile = mkdtempSync(join(tmpdir(), "mmtool-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1100, height: 1300 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || (await context.newPage());
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url) && !r.url().startsWith("blob:")) external.push(r.url()); });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(e.message));

  await page.goto(url + "/");
  if ((await page.locator(".example").count()) < 4) fail("the example gallery did not render");

  // 1. A text request.
  await page.fill("#instruction", "Translate this German paragraph into English.");
  await page.click("#submit");
  await page.waitForSelector(".card .id", { timeout: 30_000 });
  const textCards = await page.locator(".card").count();
  const firstId = (await page.locator(".card .id").first().textContent()).trim();
  const firstCall = (await page.locator(".card code").first().textContent()).trim();
  if (textCards < 1 || !firstId || !firstCall) fail(`text request: ${textCards} cards, id ${firstId}`);
  if (!(await page.locator("#meta").textContent()).includes("modality: text")) fail("text request: modality not shown");
  await page.screenshot({ path: join(outDir, "text-request.png"), fullPage: true });
  console.log(`text request: ${textCards} cards, best ${firstId}`);

  // 2. A request with an image file: preview, then results for an image.
  await page.setInputFiles("#file", { name: "photo.png", mimeType: "image/png", buffer: png(64, 48) });
  await page.waitForSelector("#preview img", { timeout: 10_000 });
  await page.fill("#instruction", "What objects are in this photo?");
  await page.click("#submit");
  await page.waitForFunction(() => document.getElementById("meta").textContent.includes("modality: image"), null, { timeout: 30_000 });
  const imgCards = await page.locator(".card").count();
  const meta = await page.locator("#meta").textContent();
  if (imgCards < 1) fail("image request: no cards");
  if (!meta.includes("image/png") || !meta.includes("64×48")) fail(`image request: media not shown (${meta})`);
  // `mmtool serve` runs the image encoder on uploads: its ImageNet guesses are shown.
  if (!meta.includes("looks like:")) fail(`image request: encoder findings not shown (${meta})`);
  const widths = await page.locator(".card .bar > span").evaluateAll((els) => els.map((e) => parseFloat(e.style.width)));
  if (widths[0] !== 100 || widths.some((w, i) => i > 0 && w > widths[i - 1])) fail(`score bars out of order: ${widths}`);
  await page.screenshot({ path: join(outDir, "image-request.png"), fullPage: true });
  console.log(`image request: ${imgCards} cards, best ${(await page.locator(".card .id").first().textContent()).trim()}`);

  // 3. A corrupt file: the server's error is shown, not results.
  await page.setInputFiles("#file", { name: "broken.png", mimeType: "image/png", buffer: Buffer.concat([png(4, 4).subarray(0, 8), Buffer.alloc(40, 7)]) });
  await page.click("#submit");
  await page.waitForSelector("#status.error", { timeout: 30_000 });
  const errText = await page.locator("#status").textContent();
  if (!errText.includes("corrupt_media")) fail(`corrupt file: unexpected message ${errText}`);
  if ((await page.locator(".card").count()) !== 0) fail("corrupt file: stale cards still shown");
  await page.screenshot({ path: join(outDir, "error.png"), fullPage: true });
  console.log("corrupt file: error shown");

  if (external.length) fail("the page loaded external resources: " + external.join(", "));
  if (consoleErrors.some((e) => !e.includes("422"))) fail("console errors: " + consoleErrors.join(" | "));
  console.log(`browser test passed; screenshots in ${outDir}`);
} finally {
  if (context) await context.close();
  proc.kill("SIGINT");
  rmSync(profile, { recursive: true, force: true });
}
