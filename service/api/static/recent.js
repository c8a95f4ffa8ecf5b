// Jobs this browser sent or opened, newest first, kept in localStorage: id, title (or the
// first words), language, when, and how it ended. Only the server holds the results.

import { $, el, languageName } from "./dom.js";

const STORAGE = "passeur.recent";
const KEEP = 30;

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(STORAGE) || "[]");
    return Array.isArray(list) ? list.filter((item) => item && typeof item.id === "string") : [];
  } catch (err) {
    return [];
  }
}

function save(list) {
  try {
    localStorage.setItem(STORAGE, JSON.stringify(list.slice(0, KEEP)));
  } catch (err) {
    // storage full or disabled: the list is a convenience, the page works without it
  }
  render();
}

// Add or update the entry of ``entry.id``; a new one goes first.
export function remember(entry) {
  const list = load();
  const at = list.findIndex((item) => item.id === entry.id);
  if (at >= 0) list[at] = { ...list[at], ...entry };
  else list.unshift({ time: Date.now(), ...entry });
  save(list);
}

export function known(id) {
  return load().some((item) => item.id === id);
}

const STATES = { succeeded: "", failed: "failed", dead: "failed", cancelled: "cancelled", gone: "gone" };

function when(time) {
  const seconds = (Date.now() - time) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
  const date = new Date(time);
  if (seconds < 86400 && date.getDate() === new Date().getDate()) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  return date.toLocaleDateString([], { day: "numeric", month: "short" }) + " " +
    date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

let current = null; // the job the page shows, marked in the list

export function showing(id) {
  current = id;
  render();
}

export function render() {
  const list = load();
  const box = $("recent-list");
  box.replaceChildren();
  for (const item of list) {
    const row = el("li");
    const link = el("a", "recent-title", item.title || "Untitled article");
    link.href = "#job=" + encodeURIComponent(item.id);
    if (item.id === current) link.setAttribute("aria-current", "page");
    const meta = [when(item.time || 0)];
    if (item.lang) meta.push(languageName(item.lang));
    if (STATES[item.state]) meta.push(STATES[item.state]);
    row.append(link, el("span", "recent-meta", meta.join(" · ")));
    box.append(row);
  }
  $("recent-count").textContent = list.length ? String(list.length) : "";
  $("recent-empty").hidden = list.length > 0;
  $("recent-clear").hidden = list.length === 0;
}

export function forgetAll() {
  localStorage.removeItem(STORAGE);
  render();
}
