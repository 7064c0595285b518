// Traces: the recent ones as a list (filtered by flow, step, status and time, searched by
// trace or event id; cron ticks folded away when they are most of it), and one trace as
// its story (failed, dead letter, replayed, done) and a timeline with a bar per span (one
// attempt of one step); failed spans are red and say why. Its log lines follow.

import { api, h, fill, fmtAgo, fmtClock, fmtDuration, badge, emptyState, shortId } from "./dom.js";
import { logTable } from "./logs.js";

const REFRESH_MS = 3000;

const STATUS_KIND = { error: "error", ok: "ok", done: "ok" };

function statusBadge(status) {
  return badge(status === "done" ? "done (replayed)" : status || "running", STATUS_KIND[status] || "info");
}

const SINCE = [["", "any time"], ["300", "last 5 minutes"], ["3600", "last hour"], ["86400", "last 24 hours"]];

function traceRow(t) {
  const open = () => { location.hash = `#/traces/${encodeURIComponent(t.trace_id)}`; };
  return h("tr", { class: `clickable trace-row${t.status === "error" ? " row-error" : ""}`, "data-trace": t.trace_id, onclick: open },
    h("td", {}, h("a", { href: `#/traces/${encodeURIComponent(t.trace_id)}`, class: "mono" }, shortId(t.trace_id))),
    h("td", {}, t.root || "–", t.cron ? [" ", badge("cron tick", "info")] : null),
    h("td", {}, (t.steps || []).join(" → ")),
    h("td", { class: "num" }, fmtDuration(t.duration)),
    h("td", {}, statusBadge(t.status)),
    h("td", { class: "muted nowrap" }, fmtAgo(t.started)));
}

function select(id, label, options, value, onChange) {
  const el = h("select", { id, onchange: (e) => onChange(e.target.value) },
    options.map(([v, text]) => h("option", { value: v }, text)));
  el.value = value;
  return h("label", { class: "field-inline" }, `${label} `, el);
}

/** The query string of the list's filters (the admin API's GET /traces parameters). */
function traceQuery(filters) {
  const params = new URLSearchParams({ limit: "50", cron: filters.showCron ? "show" : "auto" });
  for (const key of ["flow", "step", "status", "q"]) if (filters[key]) params.set(key, filters[key]);
  if (filters.since) params.set("since", String(Date.now() / 1000 - Number(filters.since)));
  return params.toString();
}

/** The list of recent traces, filtered, refreshed while it is shown. */
export function renderTraceList(root, route, model) {
  const body = h("tbody");
  const note = h("p", { class: "muted", id: "traces-note" });
  const cronToggle = h("button", { type: "button", class: "small", id: "cron-toggle", hidden: true, onclick: () => {
    filters.showCron = !filters.showCron; load();
  } });
  const filters = { flow: route.query.flow || "", step: route.query.step || "", status: route.query.status || "",
    since: route.query.since || "", q: route.query.q || "", showCron: route.query.cron === "show" };
  let shown = "";
  const load = async () => {
    try {
      const answer = await api(`/traces?${traceQuery(filters)}`);
      const traces = answer.traces || [];
      const text = JSON.stringify(traces.map((t) => [t.trace_id, t.status, t.duration, t.steps]));
      if (text !== shown) fill(body, traces.map(traceRow));
      shown = text;
      cronToggle.hidden = !answer.cron_ticks || (!answer.cron_hidden && !filters.showCron);
      cronToggle.textContent = answer.cron_hidden ? `show ${answer.cron_hidden} cron ticks` : "hide cron ticks";
      note.textContent = traces.length ? ""
        : answer.matched ? "Only cron ticks match: show them with the button above."
        : filtered() ? "No trace matches these filters." : "No traces yet: every API request, cron tick and `motia emit` starts one.";
    } catch (err) {
      note.textContent = `Could not load traces: ${err.message}`;
    }
  };
  const filtered = () => ["flow", "step", "status", "since", "q"].some((k) => filters[k]);
  const set = (key) => (value) => { filters[key] = value; shown = ""; load(); };
  const search = h("input", { type: "search", id: "trace-search", placeholder: "trace or event id", value: filters.q,
    "aria-label": "Search by trace id or event id", oninput: (e) => set("q")(e.target.value.trim()) });
  fill(root,
    h("div", { class: "toolbar" }, h("h2", {}, "Recent traces"), h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: load }, "Refresh")),
    h("div", { class: "toolbar filters", role: "search", "aria-label": "Filter traces" },
      select("trace-flow", "Flow", [["", "all flows"], ...model.flows.map((f) => [f.name, f.name])], filters.flow, set("flow")),
      select("trace-step", "Step", [["", "all steps"], ...model.steps.filter((st) => st.type !== "noop").map((st) => [st.name, st.name])], filters.step, set("step")),
      select("trace-status", "Status", [["", "any status"], ["ok", "ok"], ["done", "done (replayed)"], ["error", "error"]], filters.status, set("status")),
      select("trace-since", "Started", SINCE, filters.since, set("since")),
      search, cronToggle),
    h("table", { class: "list traces-table" },
      h("thead", {}, h("tr", {}, ["Trace", "Started by", "Steps", "Duration", "Status", "When"].map((t) => h("th", { scope: "col" }, t)))),
      body),
    note);
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}

// A delayed emit (ctx.emit({..., delay})): when it is due, and whether it went out yet.
function delayNote(emit) {
  if (emit.delayed_until == null) return null;
  const due = new Date(emit.delayed_until * 1000).toLocaleString();
  const text = emit.fired != null ? ` (delayed until ${due}, published)` : ` (delayed until ${due}, waiting)`;
  return h("span", { class: "delayed", title: `published after a delay; due ${due}` }, text);
}

const STORY_WORDS = {
  failed: (item) => [h("strong", {}, item.step), ` failed (attempt ${item.attempt})`,
    item.error ? h("span", { class: "muted" }, `: ${item.error.message || item.error.type || ""}`) : null],
  dead_letter: (item) => [h("strong", {}, item.step), " gave up: the event became a ", h("a", { href: "#/dlq" }, "dead letter")],
  replayed: (item) => ["Replayed to ", h("strong", {}, item.step), item.edited ? " with edited data" : ""],
  done: () => ["Done: every step finished after the replay"],
  ok: () => ["Done: every step finished"],
  running: () => ["Still running…"],
};

/** What happened, in order, when there is more to say than "it ran". */
function story(trace) {
  const items = trace.story || [];
  if (!items.some((item) => item.kind !== "ok")) return null;
  return h("ol", { class: "story", "aria-label": "What happened" }, items.map((item) =>
    h("li", { class: `story-${item.kind}`, "data-kind": item.kind },
      h("span", { class: "story-time muted num" }, fmtClock(item.time)), " ",
      (STORY_WORDS[item.kind] || (() => [item.kind]))(item))));
}

function spanDetails(span) {
  const parts = [];
  if (span.emits && span.emits.length) {
    parts.push(h("span", {}, "sent ", span.emits.map((e, i) => [i ? ", " : "", h("code", {}, e.topic), delayNote(e)])));
  }
  if (span.state_ops && span.state_ops.length) {
    parts.push(h("span", {}, "state ", span.state_ops.map((o, i) => [i ? ", " : "", h("code", {}, `${o.op} ${o.group}${o.key ? `/${o.key}` : ""}`)])));
  }
  return parts.length ? h("div", { class: "span-extra muted" }, parts.map((p, i) => [i ? " · " : "", p])) : null;
}

function timeline(spans) {
  const start = Math.min(...spans.map((sp) => sp.start));
  const end = Math.max(...spans.map((sp) => sp.end ?? sp.start + (sp.duration || 0)));
  const total = Math.max(end - start, 1e-6);
  const rows = spans.map((sp) => {
    const finish = sp.end ?? sp.start + (sp.duration || 0);
    const bar = h("div", { class: `bar bar-${sp.status || "running"}`, title: `${sp.step}: ${fmtDuration(finish - sp.start)}` });
    bar.style.left = `${((sp.start - start) / total) * 100}%`;
    bar.style.width = `${Math.max(((finish - sp.start) / total) * 100, 0.6)}%`;
    const failed = sp.status === "error";
    return h("li", { class: `span${failed ? " span-error" : ""}`, "data-step": sp.step },
      h("div", { class: "span-label" },
        h("strong", {}, sp.step),
        sp.attempt > 1 ? h("span", { class: "attempt" }, ` attempt ${sp.attempt}`) : null,
        h("span", { class: "muted block span-topic" }, sp.topic ? `on ${sp.topic}` : "request")),
      h("div", { class: "track" }, bar),
      h("div", { class: "span-time num" }, `+${fmtDuration(sp.start - start)}`, " · ", fmtDuration(sp.duration ?? finish - sp.start),
        failed ? [" ", badge("error", "error")] : null),
      failed && sp.error ? h("div", { class: "span-error-text", role: "note" },
        typeof sp.error === "string" ? sp.error : `${sp.error.type || "Error"}: ${sp.error.message || ""}`) : null,
      spanDetails(sp));
  });
  return h("div", { class: "timeline" },
    h("div", { class: "timeline-scale muted" }, h("span", {}, "0"), h("span", {}, fmtDuration(total))),
    h("ol", { class: "spans" }, rows));
}

function traceView(traceId, trace) {
  const spans = [...(trace.spans || [])].sort((a, b) => a.start - b.start);
  const failed = spans.filter((sp) => sp.status === "error").length;
  const duration = spans.length
    ? Math.max(...spans.map((sp) => sp.end ?? sp.start)) - Math.min(...spans.map((sp) => sp.start)) : 0;
  return [
    h("nav", { class: "crumbs" }, h("a", { href: "#/traces" }, "← All traces")),
    h("header", { class: "trace-head" },
      h("h2", {}, "Trace ", h("code", {}, traceId)),
      h("p", {}, `${spans.length} span(s) across ${new Set(spans.map((sp) => sp.step)).size} step(s) · ${fmtDuration(duration)} · `,
        h("span", { class: "trace-status", "data-status": trace.status }, statusBadge(trace.status)),
        failed ? [" ", badge(`${failed} failed attempt(s)`, trace.status === "error" ? "error" : "info")] : null,
        " · ", h("a", { href: `#/logs?trace_id=${encodeURIComponent(traceId)}` }, "live logs of this trace"))),
    story(trace),
    spans.length ? timeline(spans) : emptyState("This trace has no spans yet."),
    h("h3", {}, "Log lines"),
    (trace.logs || []).length ? logTable(trace.logs, `Log lines of trace ${traceId}`) : h("p", { class: "muted" }, "No log lines."),
  ];
}

/** One trace: summary, timeline and its log lines, refreshed while events are still flowing. */
export function renderTrace(root, traceId) {
  fill(root, h("p", { class: "muted" }, "Loading trace…"));
  let shown = "";
  const load = () => api(`/traces/${encodeURIComponent(traceId)}`).then((trace) => {
    const text = JSON.stringify(trace);
    if (text === shown) return;
    shown = text;
    fill(root, traceView(traceId, trace));
  }).catch((err) => {
    if (shown) return;
    fill(root, h("nav", { class: "crumbs" }, h("a", { href: "#/traces" }, "← All traces")),
      emptyState(err.status === 404 ? `No trace ${traceId} is known (only recent traces are kept).` : `Could not load the trace: ${err.message}`));
  });
  load();
  const timer = setInterval(load, REFRESH_MS / 2);
  return () => clearInterval(timer);
}

/** Route #/traces and #/traces/<id>. */
export function renderTraces(root, route, { model }) {
  if (route.parts[0]) return renderTrace(root, route.parts[0]);
  return renderTraceList(root, route, model);
}

