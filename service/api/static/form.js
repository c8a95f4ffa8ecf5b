// The article form: its size against the server's limits (page/config, or learnt from a
// refusal), the languages the server translates (v1/languages, auto first), a dropped or
// opened text file, and the request body it makes.

import { call, tooLong } from "./api.js";
import { $, countChars, languageName, number } from "./dom.js";
import { showProblem } from "./status.js";

const LANG_STORAGE = "passeur.sourceLang";

export const limits = { chars: null, bytes: null };

function articleSize() {
  return countChars($("text").value) + countChars($("title").value.trim());
}

// Show the size (and the limit); returns the problem when over it, else "".
export function checkSize() {
  const chars = articleSize();
  const size = $("size");
  const over = limits.chars !== null && chars > limits.chars;
  size.textContent = number(chars) + (limits.chars !== null ? " / " + number(limits.chars) : "") + " characters";
  size.classList.toggle("over", over);
  return over ? tooLong(chars, limits.chars) : "";
}

// The request for the article in the form: {json, body, sent: {chars, bytes}}, or
// {problem} when it cannot be sent as it is.
export function articleRequest() {
  const text = $("text").value;
  if (!text.trim()) return { problem: "The article is empty: paste its text first." };
  const tooBig = checkSize();
  if (tooBig) return { problem: tooBig };
  const title = $("title").value.trim();
  const body = { text: text, source_lang: $("source-lang").value, options: {} };
  if (title) body.title = title;
  if ($("format").value !== "text") body.format = $("format").value;
  const terms = glossaryTerms($("glossary").value);
  if (terms.glossary.length) body.glossary = terms.glossary;
  if (terms.do_not_translate.length) body.do_not_translate = terms.do_not_translate;
  const bullets = parseInt($("bullets").value, 10);
  if (bullets >= 1 && bullets <= 10) body.options.bullets = bullets;
  if ($("summary-mode").value) body.options.summary_mode = $("summary-mode").value;
  const json = JSON.stringify(body);
  const sent = { chars: articleSize(), bytes: new TextEncoder().encode(json).length };
  if (limits.bytes !== null && sent.bytes > limits.bytes) {
    // the body's bytes, told as the characters that fit (the article's own mix of them)
    return { problem: tooLong(sent.chars, Math.floor((limits.bytes * sent.chars) / sent.bytes), "about ") };
  }
  return { json, body, sent };
}

// The Glossary box: one `source = target` or `source → target` a line; a line without a
// target is a term not to translate (docs/glossary.md). Blank lines are skipped.
export function glossaryTerms(text) {
  const glossary = [];
  const keep = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const parts = line.split(/\s*(?:→|=)\s*/);
    const source = parts[0].trim();
    const target = parts.slice(1).join(" ").trim();
    if (target && source) glossary.push({ source, target });
    else if (source) keep.push(source);
  }
  return { glossary, do_not_translate: keep };
}

// A refusal of the server teaches the page its limit.
export function learnLimit(error) {
  if (!error || !error.limit) return;
  if (error.code === "text_too_long") limits.chars = error.limit;
  if (error.code === "body_too_large") limits.bytes = error.limit;
  checkSize();
}

async function loadFile(file) {
  if (!file) return;
  if (!/\.txt$/i.test(file.name) && file.type && !file.type.startsWith("text/")) {
    showProblem("Only plain text (.txt) files can be read, not " + file.name);
    return;
  }
  $("text").value = await file.text();
  checkSize();
  showProblem("");
}

function languageChosen() {
  const code = $("source-lang").value;
  const auto = code === "auto";
  $("text-label").textContent = auto ? "Article (its language is detected)" : "Article in " + languageName(code);
  for (const field of [$("text"), $("title")]) field.lang = auto ? "" : code;
}

// The languages the server translates (GET v1/languages), with auto first.
export async function loadLanguages() {
  let data;
  try {
    data = await call("GET", "v1/languages");
  } catch (err) {
    return; // no key yet, or an older server: auto and French stay on offer
  }
  // "mul" is a multilingual fallback model's source, not a language to pick: "Detect
  // automatically" reaches it (docs/languages.md).
  const pairs = (data.pairs || []).filter((p) => p.target === "en" && p.source !== "mul");
  const codes = new Set(pairs.map((p) => p.source));
  const select = $("source-lang");
  const wanted = localStorage.getItem(LANG_STORAGE) || select.value;
  const options = [...codes].sort((a, b) => languageName(a).localeCompare(languageName(b)))
    .map((code) => new Option(languageName(code), code));
  if ((data.summary_languages || []).includes("en") && !codes.has("en")) {
    options.push(new Option("English (summary only)", "en"));
  }
  select.replaceChildren(new Option("Detect automatically", "auto"), ...options);
  const values = [...select.options].map((o) => o.value);
  select.value = values.includes(wanted) ? wanted : values.includes("fr") ? "fr" : "auto";
  languageChosen();
}

// The limits, and whether a key is needed, before anything is sent (GET page/config).
export async function loadConfig() {
  try {
    const response = await fetch("page/config", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const config = await response.json();
    if (Number.isInteger(config.max_article_chars)) limits.chars = config.max_article_chars;
    if (Number.isInteger(config.max_body_bytes)) limits.bytes = config.max_body_bytes;
    if (config.api_key_required && !$("api-key").value.trim()) $("key-box").open = true;
  } catch (err) {
    // the limits are then learnt from the server's first refusal
  } finally {
    checkSize();
  }
}

export function bindForm(onSubmit) {
  const area = $("text");
  area.addEventListener("dragover", (event) => {
    event.preventDefault();
    area.classList.add("dragging");
  });
  area.addEventListener("dragleave", () => area.classList.remove("dragging"));
  area.addEventListener("drop", (event) => {
    area.classList.remove("dragging");
    if (event.dataTransfer.files.length === 0) return; // dropped text: the browser inserts it
    event.preventDefault();
    loadFile(event.dataTransfer.files[0]);
  });
  area.addEventListener("input", checkSize);
  $("title").addEventListener("input", checkSize);
  $("file").addEventListener("change", (event) => loadFile(event.target.files[0]));

  const select = $("source-lang");
  const stored = localStorage.getItem(LANG_STORAGE);
  if ([...select.options].some((o) => o.value === stored)) select.value = stored;
  select.addEventListener("change", () => {
    localStorage.setItem(LANG_STORAGE, select.value);
    languageChosen();
  });
  languageChosen();
  checkSize();
  $("article-form").addEventListener("submit", onSubmit);
}
