// Passeur web page: submit an article to POST v1/jobs, poll GET v1/jobs/{id}, then show
// the translation beside the source and the bullets. Every piece of data goes into the
// page as text (textContent, never innerHTML): an article holding markup shows the markup.
"use strict";

(function () {
  const KEY_STORAGE = "passeur.apiKey";
  const TERMINAL = new Set(["succeeded", "failed", "cancelled", "dead"]);
  const $ = (id) => document.getElementById(id);

  let currentRun = 0; // a new submission stops the polling of the previous one

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function headers(withBody) {
    const h = { Accept: "application/json" };
    if (withBody) h["Content-Type"] = "application/json";
    const key = $("api-key").value.trim();
    if (key) h["X-API-Key"] = key;
    return h;
  }

  function describeError(error) {
    if (!error) return "unknown error";
    let text = (error.code ? error.code + ": " : "") + (error.message || "");
    if (error.limit !== undefined && error.size !== undefined) {
      text += " (limit " + error.limit + ", size " + error.size + ")";
    }
    return text;
  }

  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: method,
        headers: headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new Error("the server could not be reached (" + err.message + ")");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : { code: "http_" + response.status, message: response.statusText };
      const problem = new Error(describeError(error));
      problem.status = response.status;
      throw problem;
    }
    return data;
  }

  function showProblem(message) {
    const box = $("problem");
    box.textContent = message;
    box.hidden = !message;
  }

  function showStatus(text, done, total) {
    $("status").hidden = false;
    $("status-text").textContent = text;
    const bar = $("progress");
    if (total > 0) {
      bar.max = total;
      bar.value = Math.min(done, total);
    } else {
      bar.removeAttribute("value"); // indeterminate
    }
  }

  function describeJob(job) {
    const progress = job.progress || {};
    if (job.state === "queued") return { text: "Queued: waiting for a worker…", done: 0, total: 0 };
    if (job.state === "running") {
      const stage = progress.stage || "starting";
      if (progress.total) {
        const unit = stage === "translation" ? " sentences" : "";
        return { text: "Running — " + stage + ": " + progress.done + " / " + progress.total + unit, done: progress.done, total: progress.total };
      }
      return { text: "Running — " + stage + "…", done: 0, total: 0 };
    }
    return { text: "Job " + job.state + ".", done: 1, total: 1 };
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function follow(jobId, run) {
    let pause = 300;
    for (;;) {
      if (run !== currentRun) return;
      let job;
      try {
        job = await call("GET", "v1/jobs/" + encodeURIComponent(jobId));
      } catch (err) {
        if (err.status && err.status < 500) {
          showProblem(err.message);
          finish();
          return;
        }
        showStatus("Connection trouble, retrying… (" + err.message + ")", 0, 0);
        job = null;
      }
      if (run !== currentRun) return;
      if (job) {
        const status = describeJob(job);
        showStatus(status.text, status.done, status.total);
        if (TERMINAL.has(job.state)) {
          finish();
          if (job.state === "succeeded" && job.result) {
            renderResult(job.result);
          } else if (job.error) {
            showProblem("The job " + job.state + ": " + describeError(job.error));
          } else {
            showProblem("The job " + job.state + ".");
          }
          return;
        }
      }
      await sleep(pause);
      pause = Math.min(pause * 1.5, 2000);
    }
  }

  function finish() {
    $("submit").disabled = false;
  }

  // -- result -----------------------------------------------------------------

  function highlight(indices, on) {
    for (const index of indices) {
      for (const span of document.querySelectorAll('.sentence[data-sentence="' + Number(index) + '"]')) {
        span.classList.toggle("highlight", on);
      }
    }
  }

  function sentenceSpan(sentence, index, text, flagged) {
    const span = el("span", "sentence", text);
    span.dataset.sentence = String(index);
    if (flagged.has(index)) {
      span.classList.add("flagged");
      span.title = flagged.get(index).join("\n");
    }
    return span;
  }

  function renderParagraphs(result, flagged) {
    const box = $("paragraphs");
    box.replaceChildren();
    const byParagraph = new Map();
    (result.sentences || []).forEach((sentence, index) => {
      if (!byParagraph.has(sentence.paragraph)) byParagraph.set(sentence.paragraph, []);
      byParagraph.get(sentence.paragraph).push([sentence, index]);
    });
    (result.paragraphs || []).forEach((paragraph, p) => {
      const row = el("div", "columns paragraph");
      const source = el("p", "source");
      const translation = el("p", "translation");
      source.lang = "fr";
      translation.lang = "en";
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
        source.append(sentenceSpan(sentence, index, sentence.source, flagged));
        translation.append(sentenceSpan(sentence, index, sentence.translation, flagged));
      });
      row.append(source, translation);
      box.append(row);
    });
  }

  function renderBullets(result) {
    const list = $("bullets-list");
    list.replaceChildren();
    (result.bullets || []).forEach((bullet) => {
      const indices = Array.isArray(bullet.sentences) ? bullet.sentences : [];
      const item = el("li", "bullet", bullet.text);
      item.tabIndex = 0;
      if (indices.length) {
        item.append(el("span", "bullet-ref", "(sentence" + (indices.length > 1 ? "s " : " ") + indices.map((i) => i + 1).join(", ") + ")"));
      }
      const on = () => { item.classList.add("active"); highlight(indices, true); };
      const off = () => { item.classList.remove("active"); highlight(indices, false); };
      item.addEventListener("mouseenter", on);
      item.addEventListener("mouseleave", off);
      item.addEventListener("focus", on);
      item.addEventListener("blur", off);
      list.append(item);
    });
    if (!list.children.length) list.append(el("li", "hint", "No bullets for this article."));
  }

  function renderFlags(result) {
    const flagged = new Map();
    const list = $("flags");
    list.replaceChildren();
    const banner = $("random-model");
    banner.hidden = true;
    for (const flag of result.flags || []) {
      if (flag.code === "random_model") {
        banner.textContent = "Not a real translation: " + flag.detail;
        banner.hidden = false;
        continue;
      }
      const item = el("li", "flag");
      item.append(el("span", "flag-code", flag.code));
      const where = flag.sentence === null || flag.sentence === undefined ? "whole article" : "sentence " + (flag.sentence + 1);
      item.append(el("span", "flag-where", where), el("span", "flag-detail", flag.detail));
      list.append(item);
      if (flag.sentence !== null && flag.sentence !== undefined) {
        if (!flagged.has(flag.sentence)) flagged.set(flag.sentence, []);
        flagged.get(flag.sentence).push(flag.code + ": " + flag.detail);
      }
    }
    $("flags-box").hidden = list.children.length === 0;
    return flagged;
  }

  function renderResult(result) {
    const flagged = renderFlags(result);
    const titleRow = $("title-row");
    titleRow.hidden = !result.title;
    if (result.title) {
      titleRow.querySelector(".source").textContent = result.title.source;
      titleRow.querySelector(".translation").textContent = result.title.translation;
    }
    renderBullets(result);
    renderParagraphs(result, flagged);
    const models = Object.entries(result.models || {})
      .filter(([, info]) => info)
      .map(([task, info]) => task + ": " + info.name + (info.revision ? " @ " + String(info.revision).slice(0, 12) : ""));
    $("models").textContent = models.length ? "Models — " + models.join("; ") : "";
    $("result").hidden = false;
  }

  // -- input ------------------------------------------------------------------

  async function loadFile(file) {
    if (!file) return;
    if (!/\.txt$/i.test(file.name) && file.type && !file.type.startsWith("text/")) {
      showProblem("Only plain text (.txt) files can be read, not " + file.name);
      return;
    }
    $("text").value = await file.text();
    showProblem("");
  }

  async function submit(event) {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) {
      showProblem("Paste an article first.");
      return;
    }
    const body = { text: text, source_lang: "fr", options: {} };
    const title = $("title").value.trim();
    if (title) body.title = title;
    const bullets = parseInt($("bullets").value, 10);
    if (bullets >= 1 && bullets <= 10) body.options.bullets = bullets;
    const mode = $("summary-mode").value;
    if (mode) body.options.summary_mode = mode;

    const run = ++currentRun;
    showProblem("");
    $("result").hidden = true;
    $("submit").disabled = true;
    showStatus("Submitting…", 0, 0);
    try {
      const accepted = await call("POST", "v1/jobs", body);
      await follow(accepted.id, run);
    } catch (err) {
      $("status").hidden = true;
      showProblem(err.message);
      if (err.status === 401) $("key-box").open = true;
      finish();
    }
  }

  function init() {
    const key = $("api-key");
    key.value = localStorage.getItem(KEY_STORAGE) || "";
    key.addEventListener("change", () => {
      const value = key.value.trim();
      if (value) localStorage.setItem(KEY_STORAGE, value);
      else localStorage.removeItem(KEY_STORAGE);
    });

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
    $("file").addEventListener("change", (event) => loadFile(event.target.files[0]));
    $("article-form").addEventListener("submit", submit);
  }

  init();
})();
