// Live logs: the recent lines from /__motia/api/logs, then every new line as it happens
// from the server-sent event stream. Lines are kept in one buffer for the whole page, so
// switching views loses nothing; the view filters by step, trace id and level.

import { api, h, fill, fmtClock, traceLink, badge } from "./dom.js";

const MAX_LINES = 2000;
const LEVELS = ["debug", "info", "warn", "error", "critical"];
const lines = [];
const seen = new Set();
const listeners = new Set();
let source = null;
let status = "connecting";

const keyOf = (r) => `${r.time}|${r.step}|${r.trace_id}|${r.event_id}|${r.level}|${r.msg}`;

function add(record) {
  const key = keyOf(record);
  if (seen.has(key)) return false;
  seen.add(key);
  lines.push(record);
  if (lines.length > MAX_LINES) seen.delete(keyOf(lines.shift()));
  return true;
}

function notify(kind, record) {
  listeners.forEach((fn) => fn(kind, record));
}

/** Open the stream (once) and load the recent history behind it. */
export function connectLogs() {
  if (source) return;
  source = new EventSource("/__motia/api/logs/stream", { withCredentials: true });
  source.onopen = () => { status = "live"; notify("status"); };
  source.onerror = () => { status = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting"; notify("status"); };
  source.onmessage = (event) => {
    let record;
    try { record = JSON.parse(event.data); } catch { return; }
    if (add(record)) notify("line", record);
  };
  api("/logs?limit=500").then((body) => {
    (body.logs || []).forEach(add);
    lines.sort((a, b) => (a.time || 0) - (b.time || 0));
    notify("reset");
  }).catch(() => {});
}

function dataText(data) {
  if (data === null || data === undefined) return "";
  if (typeof data === "object" && !Array.isArray(data) && !Object.keys(data).length) return "";
  return JSON.stringify(data);
}

/** One log line as a table row. */
export function logRow(r) {
  const data = dataText(r.data);
  return h("tr", { class: `log log-${r.level}`, "data-trace": r.trace_id || "", "data-step": r.step || "" },
    h("td", { class: "mono nowrap" }, fmtClock(r.time)),
    h("td", {}, badge(r.level, r.level)),
    h("td", { class: "nowrap" }, r.step || h("span", { class: "muted" }, "motia")),
    h("td", { class: "log-msg" }, r.msg, data ? h("code", { class: "log-data" }, ` ${data}`) : null),
    h("td", { class: "nowrap" }, traceLink(r.trace_id)));
}

export function logTable(records, caption) {
  return h("table", { class: "list logs-table" }, caption ? h("caption", { class: "sr-only" }, caption) : null,
    h("thead", {}, h("tr", {}, ["Time", "Level", "Step", "Message", "Trace"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, records.map(logRow)));
}

/** Render the Logs view; returns the function that stops its live updates. */
export function renderLogs(root, route, { model }) {
  connectLogs();
  const filters = { step: route.query.step || "", trace: route.query.trace_id || "", level: route.query.level || "debug" };
  let paused = false;
  const body = h("tbody", { id: "log-lines", "aria-live": "polite", "aria-relevant": "additions" });
  const scroller = h("div", { class: "log-scroll", tabindex: "0", "aria-label": "Log lines" },
    h("table", { class: "list logs-table" },
      h("thead", {}, h("tr", {}, ["Time", "Level", "Step", "Message", "Trace"].map((t) => h("th", { scope: "col" }, t)))),
      body));
  const indicator = h("span", { class: "live-status", role: "status" });
  const counter = h("span", { class: "muted" });
  const keep = (r) => (!filters.step || r.step === filters.step)
    && (!filters.trace || (r.trace_id || "").startsWith(filters.trace.trim()))
    && LEVELS.indexOf(r.level) >= LEVELS.indexOf(filters.level);
  const showStatus = () => {
    indicator.className = `live-status live-${paused ? "paused" : status}`;
    indicator.textContent = paused ? "Paused" : { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", closed: "Disconnected" }[status];
  };
  const redraw = () => {
    const shown = lines.filter(keep).slice(-1000);
    fill(body, shown.map(logRow));
    counter.textContent = `${shown.length} line(s)`;
    if (!shown.length) body.append(h("tr", { class: "empty-row" }, h("td", { colspan: 5 }, "No log lines yet. Call an endpoint or emit an event and they appear here.")));
    scroller.scrollTop = scroller.scrollHeight;
  };
  const listener = (kind, record) => {
    if (kind === "status") return showStatus();
    if (paused) return undefined;
    if (kind === "reset") return redraw();
    if (!keep(record)) return undefined;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    body.querySelector(".empty-row")?.remove();
    body.append(logRow(record));
    while (body.children.length > 1000) body.firstChild.remove();
    counter.textContent = `${body.children.length} line(s)`;
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    return undefined;
  };
  const stepSelect = h("select", { id: "log-step", onchange: (e) => { filters.step = e.target.value; redraw(); } },
    h("option", { value: "" }, "All steps"), model.steps.map((st) => h("option", { value: st.name }, st.name)));
  stepSelect.value = filters.step;
  const levelSelect = h("select", { id: "log-level", onchange: (e) => { filters.level = e.target.value; redraw(); } },
    LEVELS.map((l) => h("option", { value: l }, l === "debug" ? "all levels" : `${l} and above`)));
  levelSelect.value = filters.level;
  const traceInput = h("input", { id: "log-trace", type: "search", placeholder: "trace id", value: filters.trace,
    oninput: (e) => { filters.trace = e.target.value; redraw(); } });
  const pause = h("button", { type: "button", "aria-pressed": "false", onclick: () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    showStatus();
    if (!paused) redraw();
  } }, "Pause");
  const clear = h("button", { type: "button", onclick: () => { lines.length = 0; seen.clear(); redraw(); } }, "Clear");

  fill(root,
    h("div", { class: "toolbar" },
      h("label", { class: "field-inline" }, "Step ", stepSelect),
      h("label", { class: "field-inline" }, "Trace ", traceInput),
      h("label", { class: "field-inline" }, "Level ", levelSelect),
      pause, clear, h("span", { class: "spacer" }), counter, indicator),
    scroller);
  listeners.add(listener);
  showStatus();
  redraw();
  return () => listeners.delete(listener);
}

