// Small helpers shared by the page's modules. Data always goes in as text (textContent),
// never as markup: an article holding markup shows the markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function button(className, text, onClick) {
  const node = el("button", className, text);
  node.type = "button";
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

const NUMBER = new Intl.NumberFormat("en");
export const number = (n) => NUMBER.format(n);

// Characters as the server counts them (Python's len: code points, not UTF-16 units).
export function countChars(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

let names = null;
try {
  names = new Intl.DisplayNames(["en"], { type: "language" });
} catch (err) {
  names = null;
}

export function languageName(code) {
  if (!code) return "";
  if (code === "auto") return "Detect automatically";
  try {
    const name = names && names.of(code);
    if (name && name !== code) return name;
  } catch (err) {
    // an odd code: show it as it is
  }
  return code;
}

export function firstWords(text, max = 70) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return (space > max / 2 ? cut.slice(0, space) : cut) + "…";
}

const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

// Scroll ``node`` to the middle of the window unless it is already in full view.
export function bringIntoView(node) {
  const box = node.getBoundingClientRect();
  const inView = box.top >= 0 && box.bottom <= window.innerHeight - 80;
  if (!inView) node.scrollIntoView({ block: "center", behavior: reduceMotion.matches ? "auto" : "smooth" });
}
