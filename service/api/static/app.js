// Passeur web page: send an article to POST v1/jobs, follow GET v1/jobs/{id} (its id in the
// page's address, so a reload or a shared link shows it again), cancel it, then show the
// result (render.js) with copies and downloads made in the page (exports.js). Every piece
// of data goes into the page as text, never as markup.

import { call, explain, useKey } from "./api.js";
import { $, firstWords } from "./dom.js";
import { bulletsText, copyText, download, fileName, jsonText, markdown, translationText } from "./exports.js";
import { articleRequest, bindForm, learnLimit, loadConfig, loadLanguages } from "./form.js";
import * as recent from "./recent.js";
import { backToSummary, renderResult, unpin } from "./render.js";
import { hideStatus, showProblem, showProgress, showStatus } from "./status.js";

const KEY_STORAGE = "passeur.apiKey";
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "dead"]);

let shown = null; // {id, job, done}: the job the page follows or shows, and its result
let run = 0; // each job opened gets a number; the polling of an older one stops
let wake = null; // cuts the polling pause short (after a cancel)
let waitingForKey = null; // a job that could not be opened without a key

// -- following a job ------------------------------------------------------------

function sleep(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function follow(id, mine) {
  let pause = 300;
  for (;;) {
    let job = null;
    try {
      job = await call("GET", "v1/jobs/" + encodeURIComponent(id));
    } catch (err) {
      if (mine !== run) return;
      if (err.status && err.status < 500) {
        cannotOpen(id, err);
        return;
      }
      showStatus("Connection trouble, trying again… (" + err.message + ")", {}, false);
    }
    if (mine !== run) return;
    if (job && TERMINAL.has(job.state)) {
      finished(job);
      return;
    }
    if (job) showProgress(job);
    await sleep(pause);
    if (mine !== run) return;
    pause = Math.min(pause * 1.5, 2000);
  }
}

function cannotOpen(id, err) {
  shown.done = true;
  hideStatus();
  showProblem(err.message);
  if (err.status === 401) {
    waitingForKey = id;
    $("key-box").open = true;
    $("api-key").focus();
  } else if (err.status === 404 || err.status === 410) {
    if (recent.known(id)) recent.remember({ id, state: "gone" });
  }
}

function finished(job) {
  shown.done = true;
  const result = job.result;
  const entry = { id: job.id, state: job.state };
  if (result) {
    entry.title = result.title ? result.title.translation : firstWords(((result.paragraphs || [])[0] || {}).translation);
    entry.lang = result.source_lang;
  }
  recent.remember(entry);
  hideStatus();
  if (job.state === "succeeded" && result) {
    shown.job = job;
    renderResult(job);
  } else if (job.state === "cancelled") {
    showStatus("Cancelled: this job was stopped before it finished.", null, false);
  } else {
    showProblem("The translation " + job.state + ": " + explain(job.error));
  }
}

function jobInUrl() {
  const hash = new URLSearchParams(location.hash.slice(1)).get("job");
  return hash || new URLSearchParams(location.search).get("job");
}

function openJob(id, push) {
  const mine = ++run;
  shown = { id, job: null };
  waitingForKey = null;
  const url = location.pathname + "#job=" + encodeURIComponent(id);
  if (push) history.pushState(null, "", url);
  else if (location.hash !== "#job=" + encodeURIComponent(id)) history.replaceState(null, "", url);
  unpin();
  showProblem("");
  $("result").hidden = true;
  $("compose").open = false;
  $("recent-box").open = false;
  recent.showing(id);
  showStatus("Opening the job…", {}, false);
  follow(id, mine);
}

function showHome() {
  run++;
  shown = null;
  unpin();
  hideStatus();
  showProblem("");
  $("result").hidden = true;
  $("compose").open = true;
  recent.showing(null);
}

// The address decides what the page shows: a job (#job=ID) or the form.
function route() {
  const id = jobInUrl();
  if (id && (!shown || shown.id !== id)) openJob(id, false);
  else if (!id && shown) showHome();
}

async function cancel() {
  if (!shown) return;
  $("cancel").disabled = true;
  try {
    showProgress(await call("DELETE", "v1/jobs/" + encodeURIComponent(shown.id)));
    if (wake) wake();
  } catch (err) {
    showProblem("The job could not be cancelled: " + err.message);
    $("cancel").disabled = false;
  }
}

// -- sending an article ------------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  const request = articleRequest();
  if (request.problem) {
    showProblem(request.problem);
    return;
  }
  showProblem("");
  $("submit").disabled = true;
  const before = shown;
  run++; // the job shown so far is left alone
  unpin();
  $("result").hidden = true;
  showStatus("Sending…", {}, false);
  let accepted;
  try {
    accepted = await call("POST", "v1/jobs", request.json);
  } catch (err) {
    hideStatus();
    if (before && before.job) $("result").hidden = false;
    else if (before && !before.done) follow(before.id, run); // still running: follow it again
    learnLimit(err.error);
    showProblem(explain(err.error, request.sent) || err.message);
    if (err.status === 401) $("key-box").open = true;
    return;
  } finally {
    $("submit").disabled = false;
  }
  const title = request.body.title || firstWords(request.body.text);
  recent.remember({ id: accepted.id, title, lang: request.body.source_lang, state: "queued", time: Date.now() });
  openJob(accepted.id, true);
}

// -- copies and downloads ---------------------------------------------------------

let flashTimer = null;
function flash(message) {
  $("copied").textContent = message;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => ($("copied").textContent = ""), 4000);
}

// Each tool works on the job shown and returns what to tell the reader.
const TOOLS = {
  "copy-translation": async (job) => {
    await copyText(translationText(job.result));
    return "Translation copied.";
  },
  "copy-bullets": async (job) => {
    await copyText(bulletsText(job.result));
    return "Bullets copied.";
  },
  "copy-link": async () => {
    await copyText(location.href);
    return "Link copied.";
  },
  "download-markdown": (job) => download(fileName(job, "md"), "text/markdown", markdown(job)),
  "download-text": (job) => download(fileName(job, "txt"), "text/plain", translationText(job.result)),
  "download-json": (job) => download(fileName(job, "json"), "application/json", jsonText(job)),
};

function bindResultTools() {
  for (const [id, tool] of Object.entries(TOOLS)) {
    $(id).addEventListener("click", async () => {
      if (!shown || !shown.job) return;
      try {
        flash((await tool(shown.job)) || "");
      } catch (err) {
        flash("That did not work: " + err.message);
      }
    });
  }
  $("pinned-up").addEventListener("click", backToSummary);
  $("pinned-close").addEventListener("click", unpin);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") unpin();
  });
}

// -- start ----------------------------------------------------------------------------

function init() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORAGE) || "";
  useKey(() => key.value.trim());
  key.addEventListener("change", () => {
    const value = key.value.trim();
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
    if (waitingForKey) openJob(waitingForKey, false);
    loadLanguages();
  });

  bindForm(submit);
  $("cancel").addEventListener("click", cancel);
  $("recent-clear").addEventListener("click", recent.forgetAll);
  // The top bar's panels close on a click elsewhere, as menus do.
  document.addEventListener("click", (event) => {
    for (const panel of document.querySelectorAll(".tools details[open]")) {
      if (!panel.contains(event.target)) panel.open = false;
    }
  });
  bindResultTools();
  window.addEventListener("hashchange", route);
  window.addEventListener("popstate", route);

  recent.render();
  loadConfig();
  loadLanguages();
  route();
}

init();
