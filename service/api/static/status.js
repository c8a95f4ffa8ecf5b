// Where the page says what is going on: the job's progress (with its cancel button) and
// problems, one sentence each.

import { $, number } from "./dom.js";

const STAGES = { translation: "Translating", summarisation: "Summarising" };

export function showProblem(message) {
  const box = $("problem");
  box.textContent = message || "";
  box.hidden = !message;
  if (message) box.scrollIntoView({ block: "nearest" });
}

// ``progress``: {done, total} for a bar, {} for a busy bar, null for none.
export function showStatus(text, progress, cancellable) {
  $("status").hidden = false;
  $("status-text").textContent = text;
  const bar = $("progress");
  bar.hidden = progress === null;
  if (progress && progress.total > 0) {
    bar.max = progress.total;
    bar.value = Math.min(progress.done, progress.total);
  } else {
    bar.removeAttribute("value"); // indeterminate
  }
  $("cancel").hidden = !cancellable;
  $("cancel").disabled = false;
}

export function hideStatus() {
  $("status").hidden = true;
  $("cancel").hidden = true;
}

// A queued or running job: its state, stage and sentences done of total.
export function showProgress(job) {
  if (job.state === "queued") {
    showStatus("Queued: waiting for a worker…", {}, true);
    return;
  }
  if (job.cancel_requested) {
    showStatus("Cancelling: the job stops within one batch…", {}, false);
    return;
  }
  const progress = job.progress || {};
  const stage = STAGES[progress.stage] || progress.stage || "Starting";
  if (progress.stage === "translation" && progress.total) {
    showStatus(stage + ": " + number(progress.done) + " / " + number(progress.total) + " sentences", progress, true);
  } else {
    showStatus(stage + "…", progress, true);
  }
}
