// Small helpers every view uses: building elements, calling the admin API, formatting.
// Values from the app (log lines, state, payloads) only ever become text nodes, never
// markup, so nothing shown on the page can run as code.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

function applyAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return el;
}

/** An HTML element: h("a", {href: "#/x", class: "link"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  return append(applyAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  return append(applyAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replace every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export class ApiError extends Error {
  constructor(status, message, type, errors = []) {
    super(message);
    this.status = status;
    this.type = type;
    this.errors = errors; // a ValidationError's violations: [{path, message}]
  }
}

/** Call the admin API; resolves to the parsed JSON, rejects with an ApiError. */
export async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
    delete init.json;
  }
  let response;
  try {
    response = await fetch(`/__motia/api${path}`, init);
  } catch (err) {
    throw new ApiError(0, `the app is not reachable (${err.message}); is \`motia run\` still running?`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { type: "BadResponse", message: text.slice(0, 200) } };
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    const message = error.message || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, error.type, Array.isArray(body && body.errors) ? body.errors : []);
  }
  return body;
}

/** A clock time with milliseconds, e.g. 14:03:07.123, from epoch seconds. */
export function fmtClock(seconds) {
  if (typeof seconds !== "number") return "";
  const date = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** "3 s ago", "2 min ago" from epoch seconds. */
export function fmtAgo(seconds) {
  if (typeof seconds !== "number") return "";
  const delta = Math.max(0, Date.now() / 1000 - seconds);
  if (delta < 60) return `${Math.round(delta)} s ago`;
  if (delta < 3600) return `${Math.round(delta / 60)} min ago`;
  if (delta < 86400) return `${Math.round(delta / 3600)} h ago`;
  return new Date(seconds * 1000).toLocaleString();
}

/** A duration in seconds as "850 µs", "12.3 ms", "1.25 s", "2.5 min", "24 h", "7 d". */
export function fmtDuration(seconds) {
  if (typeof seconds !== "number" || Number.isNaN(seconds)) return "–";
  if (seconds === 0) return "0 ms";
  if (seconds < 0.001) return `${Math.round(seconds * 1e6)} µs`;
  if (seconds < 1) return `${Number((seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1))} ms`;
  if (seconds < 120) return `${Number(seconds.toFixed(2))} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172800) return `${Number((seconds / 3600).toFixed(1))} h`;
  return `${Number((seconds / 86400).toFixed(1))} d`;
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : "";
}

/** Pretty JSON as a <pre> whose keys, strings, numbers and literals carry classes. */
export function jsonBlock(value, attrs = {}) {
  const pre = h("pre", { class: "json", ...attrs });
  const text = value === undefined ? "undefined" : JSON.stringify(value, null, 2);
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;
  let last = 0;
  for (const match of (text || "").matchAll(token)) {
    append(pre, [text.slice(last, match.index)]);
    const [whole, str, colon, num, lit] = match;
    if (str) {
      pre.append(h("span", { class: colon ? "j-key" : "j-str" }, str), colon || "");
    } else {
      pre.append(h("span", { class: num ? "j-num" : "j-lit" }, whole));
      void lit;
    }
    last = match.index + whole.length;
  }
  append(pre, [(text || "").slice(last)]);
  return pre;
}

/** A short, non-blocking message at the bottom of the page. */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** A labelled status badge: text always states the meaning, colour only repeats it. */
export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind || text}` }, text);
}

/** A link to a trace, shown as its first 8 characters. */
export function traceLink(traceId) {
  if (!traceId) return "";
  return h("a", { href: `#/traces/${encodeURIComponent(traceId)}`, class: "trace-link mono",
    title: `Open trace ${traceId}` }, shortId(traceId));
}

export function emptyState(message, hint) {
  return h("div", { class: "empty" }, h("p", {}, message), hint ? h("p", { class: "muted" }, hint) : null);
}
