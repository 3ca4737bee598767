"use strict";
// The demo page: builds a multipart request from the form, shows ranked tools.

const $ = (id) => document.getElementById(id);
const form = $("ask"), drop = $("drop"), fileInput = $("file"), preview = $("preview");
let attached = null; // the File to send, if any

const EXAMPLES = [
  { kind: "text", text: "Translate this German paragraph into English." },
  { kind: "text", text: "Summarize a long news article in a few sentences." },
  { kind: "image", text: "What objects are in this photo?" },
  { kind: "image", text: "Make this blurry picture sharper." },
  { kind: "audio", text: "Transcribe what is said in this recording." },
  { kind: "video", text: "What action is the person doing in this clip?" },
];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderGallery() {
  const g = $("gallery");
  for (const ex of EXAMPLES) {
    const b = el("button", "example");
    b.type = "button";
    b.append(el("span", "kind", ex.kind === "text" ? "text" : ex.kind + " · attach one"), el("div", "", ex.text));
    b.addEventListener("click", () => {
      $("instruction").value = ex.text;
      if (ex.kind === "text") { setFile(null); form.requestSubmit(); }
      else { $("instruction").focus(); setStatus(`Now attach ${ex.kind === "image" ? "an image" : "a " + ex.kind} and press Recommend.`); }
    });
    g.append(b);
  }
}

function setFile(f) {
  attached = f;
  preview.replaceChildren();
  $("drop-empty").hidden = !!f;
  preview.hidden = !f;
  if (!f) { fileInput.value = ""; return; }
  const url = URL.createObjectURL(f);
  let media;
  if (f.type.startsWith("image/")) { media = el("img"); media.alt = "preview"; }
  else if (f.type.startsWith("audio/")) { media = el("audio"); media.controls = true; }
  else if (f.type.startsWith("video/")) { media = el("video"); media.controls = true; media.muted = true; }
  if (media) { media.src = url; preview.append(media); }
  const info = el("div");
  info.append(el("div", "name", f.name), el("div", "hint", `${(f.size / 1024).toFixed(1)} KiB · ${f.type || "unknown type"}`));
  const rm = el("button", "", "Remove");
  rm.type = "button";
  rm.addEventListener("click", (e) => { e.stopPropagation(); setFile(null); });
  preview.append(info, rm);
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = "status" + (isError ? " error" : "");
}

// "spoken language: de 83%, en 6%" / "looks like: tabby 41%, ..." from the encoders' findings.
function describeFindings(f) {
  const top = (list) => list.slice(0, 3).map(([name, p]) => `${name} ${(p * 100).toFixed(0)}%`).join(", ");
  const parts = [];
  if (f.languages && f.languages.length) parts.push("spoken language: " + top(f.languages));
  if (f.labels && f.labels.length) parts.push("looks like: " + top(f.labels));
  if (f.media_token) parts.push("media token " + f.media_token);
  return parts.length ? parts.join(" · ") : JSON.stringify(f);
}

function renderResults(data) {
  const meta = $("meta");
  meta.replaceChildren();
  const chips = [`modality: ${data.modality}`, `backend: ${data.backend}`, `${data.timing_ms.total_ms.toFixed(1)} ms`];
  if (data.media) chips.push(`${data.media.mime}${data.media.dimensions ? " " + data.media.dimensions.join("×") : ""}`);
  for (const c of chips) meta.append(el("span", "chip", c));
  if (data.findings) meta.append(el("div", "findings", "Found in the media: " + describeFindings(data.findings)));

  const cards = $("cards");
  cards.replaceChildren();
  const top = Math.max(...data.ranked.map((r) => r.score), 1e-9);
  for (const r of data.ranked) {
    const li = el("li", "card" + (r.rank === 1 ? " best" : ""));
    li.dataset.id = r.id;
    const head = el("div", "head");
    head.append(el("span", "rank", `#${r.rank}`), el("span", "id", r.id), el("span", "task", r.task));
    const bar = el("div", "bar");
    const fill = el("span");
    fill.style.width = `${Math.max(2, (100 * r.score) / top).toFixed(1)}%`;
    bar.append(fill);
    const code = el("div", "code");
    const snippet = el("code", "", r.api_call);
    const copy = el("button", "copy", "Copy");
    copy.type = "button";
    copy.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(r.api_call); copy.textContent = "Copied"; }
      catch { const range = document.createRange(); range.selectNodeContents(snippet);
              getSelection().removeAllRanges(); getSelection().addRange(range); copy.textContent = "Selected"; }
      copy.classList.add("done");
      setTimeout(() => { copy.textContent = "Copy"; copy.classList.remove("done"); }, 1500);
    });
    code.append(snippet, copy);
    li.append(head, el("div", "summary", r.summary), bar, el("div", "score", `score ${r.score.toFixed(3)}`), code);
    cards.append(li);
  }
  setStatus(data.ranked.length ? `Best fit: ${data.ranked[0].id}` : "No tool found.");
}

async function submit(ev) {
  ev.preventDefault();
  const instruction = $("instruction").value.trim();
  if (!instruction) { setStatus("Please describe what you want done.", true); return; }
  const body = new FormData();
  body.append("instruction", instruction);
  body.append("top_k", $("topk").value);
  if (attached) body.append("file", attached, "upload");
  const btn = $("submit");
  btn.disabled = true;
  setStatus("Thinking…");
  try {
    const resp = await fetch("/v1/recommend", { method: "POST", body });
    const data = await resp.json().catch(() => null);
    if (!resp.ok) {
      $("cards").replaceChildren(); $("meta").replaceChildren();
      setStatus(data && data.error ? `${data.error.message} (${data.error.code})` : `The server answered ${resp.status}.`, true);
      return;
    }
    renderResults(data);
  } catch (e) {
    setStatus("Could not reach the server: " + e.message, true);
  } finally {
    btn.disabled = false;
  }
}

drop.addEventListener("click", () => fileInput.click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } });
fileInput.addEventListener("change", () => setFile(fileInput.files[0] || null));
for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const t of ["dragleave", "drop"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); });
drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) setFile(f); });
form.addEventListener("submit", submit);
renderGallery();
