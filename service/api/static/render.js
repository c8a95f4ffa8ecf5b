// A finished job on the page: the summary first, then the translation beside its source,
// then the flags, folded and grouped where they belong. Selecting a bullet (click, tap,
// Enter or Space) pins it: its sentences stay highlighted and the first is scrolled to.

import { $, bringIntoView, button, el, firstWords, languageName, number } from "./dom.js";
import { modelsLine } from "./exports.js";
import { flagLabel, flaggedSentences, groupFlags, isNote } from "./flags.js";

let pinned = null; // {item, indices} of the selected bullet
let hovered = []; // sentence indices of the bullet under the pointer or focus

function sentenceNodes(index, side) {
  const scope = side ? "#paragraphs ." + side + " " : "#paragraphs ";
  return document.querySelectorAll(scope + '.sentence[data-sentence="' + Number(index) + '"]');
}

function paint() {
  for (const node of document.querySelectorAll("#paragraphs .sentence.highlight")) node.classList.remove("highlight");
  for (const index of [...hovered, ...(pinned ? pinned.indices : [])]) {
    for (const node of sentenceNodes(index)) node.classList.add("highlight");
  }
}

export function unpin() {
  if (pinned) pinned.item.querySelector("button").setAttribute("aria-pressed", "false");
  pinned = null;
  $("pinned").hidden = true;
  paint();
}

function pin(item, bullet, indices) {
  const same = pinned && pinned.item === item;
  unpin();
  if (same) return;
  pinned = { item, indices };
  item.querySelector("button").setAttribute("aria-pressed", "true");
  $("pinned-text").textContent = bullet.text;
  $("pinned").hidden = indices.length === 0;
  paint();
  const first = indices.length ? sentenceNodes(Math.min(...indices), "translation")[0] : null;
  if (first) bringIntoView(first);
}

export function backToSummary() {
  const item = pinned ? pinned.item : null;
  const target = item || $("summary");
  target.scrollIntoView({ block: "center" });
  if (item) item.querySelector("button").focus({ preventScroll: true });
}

function renderBullets(result) {
  const list = $("bullets-list");
  list.replaceChildren();
  (result.bullets || []).forEach((bullet) => {
    const indices = (Array.isArray(bullet.sentences) ? bullet.sentences : []).map(Number);
    const item = el("li", "bullet");
    const press = button("bullet-button", bullet.text, () => pin(item, bullet, indices));
    press.setAttribute("aria-pressed", "false");
    if (indices.length) {
      const which = indices.map((i) => i + 1).join(", ");
      press.append(el("span", "bullet-ref", (indices.length > 1 ? "sentences " : "sentence ") + which));
    }
    const over = () => { hovered = indices; paint(); };
    const out = () => { hovered = []; paint(); };
    item.addEventListener("mouseenter", over);
    item.addEventListener("mouseleave", out);
    press.addEventListener("focus", over);
    press.addEventListener("blur", out);
    item.append(press);
    list.append(item);
  });
  if (!list.children.length) list.append(el("li", "hint", "No bullets for this article."));
}

function openFlagGroup(key) {
  const box = $("flags-box");
  box.open = true;
  const group = document.getElementById("flags-" + key);
  if (group) {
    group.scrollIntoView({ block: "center" });
    group.focus({ preventScroll: true });
  }
}

function sentenceSpan(index, text, flagged) {
  const span = el("span", "sentence", text);
  span.dataset.sentence = String(index);
  if (flagged.has(index)) {
    span.classList.add("flagged");
    span.title = flagged.get(index).map((f) => flagLabel(f.code) + " (" + f.detail + ")").join("\n");
  }
  return span;
}

function cell(side, label, lang) {
  const box = el("div", "cell");
  const text = el("p", side);
  text.lang = lang;
  box.append(el("span", "cell-label", label), text);
  return [box, text];
}

function renderParagraphs(result, flagged, sourceName) {
  const box = $("paragraphs");
  box.replaceChildren();
  const detected = (result.language && result.language.paragraphs) || [];
  const byParagraph = new Map();
  (result.sentences || []).forEach((sentence, index) => {
    if (!byParagraph.has(sentence.paragraph)) byParagraph.set(sentence.paragraph, []);
    byParagraph.get(sentence.paragraph).push([sentence, index]);
  });
  (result.paragraphs || []).forEach((paragraph, p) => {
    const lang = (detected[p] && detected[p].lang) || result.source_lang;
    const [sourceCell, source] = cell("source", lang === result.source_lang ? sourceName : languageName(lang), lang);
    const [translationCell, translation] = cell("translation", languageName(result.target_lang || "en"), result.target_lang || "en");
    const sentences = byParagraph.get(p) || [];
    if (sentences.length === 0) {
      source.textContent = paragraph.source;
      translation.textContent = paragraph.translation;
    }
    sentences.forEach(([sentence, index], k) => {
      if (k > 0) {
        source.append(" ");
        translation.append(" ");
      }
      source.append(sentenceSpan(index, sentence.source, flagged));
      translation.append(sentenceSpan(index, sentence.translation, flagged));
      if (flagged.has(index)) {
        const count = flagged.get(index).length;
        const mark = button("flag-mark", "!", () => openFlagGroup("s" + index));
        mark.setAttribute("aria-label", count + (count > 1 ? " flags" : " flag") + " on sentence " + (index + 1));
        translation.append(mark);
      }
    });
    const row = el("div", "columns paragraph");
    row.append(sourceCell, translationCell);
    box.append(row);
  });
}

function renderTitle(result, sourceName) {
  const row = $("title-row");
  row.replaceChildren();
  row.hidden = !result.title;
  $("result-title").textContent = result.title ? result.title.translation : "Translation";
  if (!result.title) return;
  const [sourceCell, source] = cell("source", sourceName, result.source_lang);
  const [translationCell, translation] = cell("translation", languageName(result.target_lang || "en"), "en");
  source.textContent = result.title.source;
  translation.textContent = result.title.translation;
  row.append(sourceCell, translationCell);
}

// "6 on 2 sentences, the title and the summary"
function countLine(groups, total) {
  const sentences = groups.filter((g) => g.sentence !== null).length;
  const places = [];
  if (sentences) places.push(sentences + (sentences > 1 ? " sentences" : " sentence"));
  for (const g of groups) if (g.sentence === null) places.push("the " + g.label.toLowerCase());
  const last = places.pop();
  return number(total) + " on " + (places.length ? places.join(", ") + " and " : "") + last;
}

function renderFlags(result) {
  const banner = $("random-model");
  const random = (result.flags || []).filter((f) => f.code === "random_model");
  banner.hidden = random.length === 0;
  banner.textContent = random.length ? "Not a real translation: " + random.map((f) => f.detail).join("; ") + "." : "";

  const groups = groupFlags(result.flags);
  const box = $("flags");
  box.replaceChildren();
  let total = 0;
  for (const group of groups) {
    const section = el("section", "flag-group");
    section.id = "flags-" + group.key;
    section.tabIndex = -1;
    const head = el("h4", "flag-place");
    if (group.sentence !== null) {
      head.append(button("quiet place-link", group.label, () => {
        const target = sentenceNodes(group.sentence, "translation")[0];
        if (!target) return;
        for (const node of sentenceNodes(group.sentence)) node.classList.add("highlight");
        bringIntoView(target);
        setTimeout(paint, 2500);
      }));
      const sentence = (result.sentences || [])[group.sentence];
      if (sentence) head.append(el("q", "flag-quote", firstWords(sentence.source, 90)));
    } else {
      head.textContent = group.label;
    }
    const list = el("ul", "flag-list");
    for (const flag of group.flags) {
      const item = el("li", isNote(flag) ? "flag note" : "flag");
      const detail = group.key === "title" ? String(flag.detail).replace(/^title:\s*/i, "") : flag.detail;
      item.append(
        el("span", "flag-label", flagLabel(flag.code)), " ",
        el("span", "flag-detail", detail), " ",
        el("code", "flag-code", flag.code),
      );
      list.append(item);
      total++;
    }
    section.append(head, list);
    box.append(section);
  }
  $("flags-count").textContent = total ? "— " + countLine(groups, total) : "";
  $("flags-box").hidden = total === 0;
  $("flags-box").open = false;
}

function metaLine(job, result, sourceName) {
  const parts = [];
  const language = result.language;
  const target = languageName(result.target_lang || "en");
  if (language && language.detected) {
    const confidence = Math.round((language.confidence || 0) * 100);
    parts.push("Detected " + sourceName + " (" + confidence + " %) → " + target);
  } else {
    parts.push(sourceName + " → " + target);
  }
  const n = (result.sentences || []).length;
  parts.push(number(n) + (n === 1 ? " sentence" : " sentences"));
  const seconds = result.timings && result.timings.total_s;
  if (typeof seconds === "number") parts.push("translated in " + seconds.toFixed(1) + " s");
  if (job.expires_at) {
    const until = new Date(job.expires_at * 1000);
    parts.push("kept until " + until.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" }));
  }
  return parts.join(" · ");
}

// A translated Markdown or HTML document is shown as escaped text, never as live markup:
// its scripts, on* handlers and javascript: links are data (docs/documents.md).
function renderDocument(result) {
  let box = $("document");
  if (!box) {
    box = document.createElement("section");
    box.id = "document";
    const head = document.createElement("h3");
    head.textContent = "Translated document";
    const pre = document.createElement("pre");
    pre.id = "document-text";
    box.append(head, pre);
    $("models").before(box);
  }
  box.hidden = !result.document;
  $("document-text").textContent = result.document || "";
}

export function renderResult(job) {
  const result = job.result;
  unpin();
  hovered = [];
  const sourceName = result.source_lang === "auto" ? "Source" : languageName(result.source_lang);
  $("source-head").textContent = sourceName;
  renderTitle(result, sourceName);
  $("result-meta").textContent = metaLine(job, result, sourceName);
  renderFlags(result);
  renderBullets(result);
  $("copy-bullets").hidden = !(result.bullets || []).length;
  renderParagraphs(result, flaggedSentences(result.flags), sourceName);
  renderDocument(result);
  const models = modelsLine(result);
  $("models").textContent = models ? "Models — " + models : "";
  $("result").hidden = false;
}
