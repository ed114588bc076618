// The REST API: JSON requests with the tab's API key, errors as ApiError, uploads with
// transfer progress. A 401 asks for a key once (however many requests were refused at the
// same time), then the refused requests are sent again.

const KEY_SLOT = "dwell.apiKey";
const memoryKey = { value: "" };

export class ApiError extends Error {
  constructor(status, kind, message, parameter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.kind = kind;
    this.parameter = parameter;
  }
}

export function getKey() {
  try { return sessionStorage.getItem(KEY_SLOT) || ""; } catch { return memoryKey.value; }
}

export function setKey(key) {
  memoryKey.value = key || "";
  try {
    if (key) sessionStorage.setItem(KEY_SLOT, key);
    else sessionStorage.removeItem(KEY_SLOT);
  } catch { /* storage disabled: the key lives in memory for this page */ }
}

let prompt = async () => null;
let asking = null;
let declined = false; // the person cancelled the key dialog: do not ask again by ourselves

/** `fn(message, hadKey)` shows the key dialog and resolves to a key, or null when cancelled. */
export function onKeyNeeded(fn) { prompt = fn; }

/** Ask for a key again on the next 401 (after the person chose to enter one). */
export function allowKeyPrompt() { declined = false; }

function askForKey(message, hadKey) {
  if (!asking) {
    asking = Promise.resolve(prompt(message, hadKey)).finally(() => { asking = null; });
  }
  return asking;
}

/** Query string from [[name, value], ...] (repeated names allowed; empty values left out). */
export function query(params = []) {
  const q = new URLSearchParams();
  for (const [name, value] of params) {
    if (value !== null && value !== undefined && value !== "") q.append(name, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const error = body && body.error;
  if (error && error.message) return new ApiError(response.status, error.kind || "error", error.message, error.parameter);
  return new ApiError(response.status, "http_error", `The server answered ${response.status} ${response.statusText}.`.replace(" .", "."));
}

const offline = () => new ApiError(0, "network", "The server did not answer. Check that dwell is running, then try again.");

function authHeaders() {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * Run `send()` (which uses the current key) until it is not a 401: each 401 asks for a key.
 * `send` resolves to {status, error?, ...}; a 401 carries `error` (an ApiError).
 */
async function withKey(send) {
  for (;;) {
    const used = getKey();
    const answer = await send();
    if (answer.status !== 401) return answer;
    if (getKey() && getKey() !== used) continue; // another request got a new key meanwhile
    const message = used ? `That key was not accepted: ${answer.error.message}` : answer.error.message;
    const key = declined ? null : await askForKey(message, Boolean(used));
    if (!key) {
      declined = true;
      throw new ApiError(401, "unauthorized", `An API key is needed. ${answer.error.message}`);
    }
    setKey(key.trim());
  }
}

/** GET a JSON document. Throws ApiError (or the AbortError of `signal`). */
export async function getJson(path, params = [], { signal } = {}) {
  const url = path + query(params);
  const answer = await withKey(async () => {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json", ...authHeaders() }, signal });
    } catch (exc) {
      if (exc && exc.name === "AbortError") throw exc;
      throw offline();
    }
    if (!response.ok) return { status: response.status, error: await errorFrom(response) };
    return { status: response.status, body: await response.json() };
  });
  if (answer.error) throw answer.error;
  return answer.body;
}

/**
 * POST a file to /api/v1/uploads as multipart `file`; `onSent(fraction)` follows the transfer.
 * Resolves to {status, upload}; throws ApiError when the server refuses it.
 */
export async function sendUpload(file, onSent = () => {}) {
  const answer = await withKey(() => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/uploads");
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onSent(event.loaded / event.total);
    });
    xhr.addEventListener("error", () => reject(offline()));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ status: xhr.status, body });
        return;
      }
      const error = body && body.error;
      resolve({
        status: xhr.status,
        error: error && error.message
          ? new ApiError(xhr.status, error.kind || "error", error.message, error.parameter)
          : new ApiError(xhr.status, "http_error", `The server answered ${xhr.status}.`),
      });
    });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  }));
  if (answer.error) throw answer.error;
  return { status: answer.status, upload: answer.body };
}

/** Every page of a keyset-paginated list, up to `max` items. */
export async function getAll(path, params = [], { max = 5000, limit = 1000, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await getJson(path, [...params, ["limit", limit], ["cursor", cursor]], { signal });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
