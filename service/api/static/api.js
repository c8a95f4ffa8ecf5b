// Calls to the API, and its errors told in the reader's terms: sizes in characters, each
// number once, what to do next.

import { languageName, number } from "./dom.js";

let keyOf = () => "";

// ``getter`` returns the API key the user typed ("" for none).
export function useKey(getter) {
  keyOf = getter;
}

export class ApiError extends Error {
  constructor(message, status, error) {
    super(message);
    this.status = status;
    this.error = error || null;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = keyOf();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError("The server could not be reached (" + err.message + ").", 0, null);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : { code: "http_" + response.status, message: response.statusText };
    throw new ApiError(explain(error), response.status, error);
  }
  return data;
}

function languages(codes) {
  return codes.map((code) => languageName(code) + " (" + code + ")").join(", ");
}

// One sentence for an API error. ``sent`` ({chars, bytes}) is what the page sent, so that a
// limit the server counts in bytes can be told in characters.
export function explain(error, sent) {
  if (!error) return "Something went wrong, and the server did not say what.";
  const code = error.code || "";
  switch (code) {
    case "text_too_long":
      return tooLong(error.size, error.limit);
    case "body_too_large":
      if (sent && sent.bytes > 0) {
        return tooLong(sent.chars, Math.floor((error.limit * sent.chars) / sent.bytes), "about ");
      }
      return "The article is too long to send in one request: split it into parts.";
    case "empty_text":
      return "The article is empty: paste its text first.";
    case "unsupported_language": {
      const what = error.language ? languageName(error.language) + " (" + error.language + ")" : "this language";
      const choices = Array.isArray(error.supported) && error.supported.length ? languages(error.supported) + ", or " : "";
      return "No model here translates " + what + ". Choose " + choices + "Detect automatically.";
    }
    case "unauthorized":
      return "This server needs an API key: type it in the API key box at the top. (" + error.message + ")";
    case "job_not_found":
      return "This server has no such job for this API key: the link may be wrong, or the job was removed.";
    case "job_expired":
      return "This result was kept its time and is gone: translate the article again.";
    default: {
      const message = error.message || code || "Something went wrong, and the server did not say what.";
      // refusals (rate_limited, queue_full, overloaded...) say when to come back
      const retry = Number(error.retry_after_s);
      return retry > 0 ? message + " Try again in " + number(Math.ceil(retry)) + " s." : message;
    }
  }
}

export function tooLong(size, limit, about = "") {
  return (
    "The article is too long: " + number(size) + " characters (text and title), and " + about +
    number(limit) + " fit in one article. Split it into parts."
  );
}
