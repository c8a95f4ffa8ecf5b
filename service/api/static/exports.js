// What the reader takes away: the translation, the bullets, Markdown and JSON, made in the
// page from the job it shows (nothing more is asked of the server), copied or downloaded.

import { el, languageName } from "./dom.js";

export function translationText(result) {
  const parts = [];
  if (result.title) parts.push(result.title.translation);
  for (const paragraph of result.paragraphs || []) parts.push(paragraph.translation);
  return parts.join("\n\n") + "\n";
}

export function bulletsText(result) {
  return (result.bullets || []).map((bullet) => "- " + bullet.text).join("\n") + "\n";
}

export function modelsLine(result) {
  return Object.entries(result.models || {})
    .filter(([, info]) => info && info.name)
    .map(([task, info]) => task + ": " + info.name + (info.revision ? " @ " + String(info.revision).slice(0, 12) : ""))
    .join("; ");
}

export function markdown(job) {
  const result = job.result;
  const lines = ["# " + (result.title ? result.title.translation : "Translation"), ""];
  if ((result.bullets || []).length) lines.push("## Summary", "", bulletsText(result).trimEnd(), "");
  lines.push("## Translation", "");
  for (const paragraph of result.paragraphs || []) lines.push(paragraph.translation, "");
  const from = languageName(result.source_lang) || result.source_lang;
  const models = modelsLine(result);
  lines.push("---", "", "Translated from " + from + " by Passeur" + (models ? " (" + models + ")" : "") + ", job " + job.id + ".");
  return lines.join("\n") + "\n";
}

export function jsonText(job) {
  return JSON.stringify(job, null, 2) + "\n";
}

// A file name from the title (or the job id): letters, digits and dashes only.
export function fileName(job, extension) {
  const result = job.result || {};
  const base = result.title ? result.title.translation : "";
  const slug = base.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60).replace(/-+$/, "");
  return "passeur-" + (slug || String(job.id).slice(0, 12)) + "." + extension;
}

export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type: type + ";charset=utf-8" }));
  const link = el("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The clipboard API needs a secure context (https or localhost); elsewhere, the older
// select-and-copy still works.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = el("textarea", "offscreen");
  area.value = text;
  area.setAttribute("readonly", "");
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("the browser refused to copy");
}
