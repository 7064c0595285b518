// Traces: the recent ones as a list, and one trace as a timeline with a bar per span
// (one attempt of one step) across the steps it went through; failed spans are red and
// say why. The trace's log lines follow the timeline.

import { api, h, fill, fmtAgo, fmtDuration, badge, emptyState, shortId } from "./dom.js";
import { logTable } from "./logs.js";

const REFRESH_MS = 3000;

function statusBadge(status) {
  return badge(status === "error" ? "error" : status === "ok" ? "ok" : status || "running", status || "running");
}

function traceRow(t) {
  const open = () => { location.hash = `#/traces/${encodeURIComponent(t.trace_id)}`; };
  return h("tr", { class: `clickable trace-row${t.status === "error" ? " row-error" : ""}`, "data-trace": t.trace_id, onclick: open },
    h("td", {}, h("a", { href: `#/traces/${encodeURIComponent(t.trace_id)}`, class: "mono" }, shortId(t.trace_id))),
    h("td", {}, t.root || "–"),
    h("td", {}, (t.steps || []).join(" → ")),
    h("td", { class: "num" }, fmtDuration(t.duration)),
    h("td", {}, statusBadge(t.status)),
    h("td", { class: "muted nowrap" }, fmtAgo(t.started)));
}

/** The list of recent traces, refreshed while it is shown. */
export function renderTraceList(root) {
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  let shown = "";
  const load = async () => {
    try {
      const { traces = [] } = await api("/traces?limit=50");
      const text = JSON.stringify(traces.map((t) => [t.trace_id, t.status, t.duration, t.steps]));
      if (text !== shown) fill(body, traces.map(traceRow));
      shown = text;
      note.textContent = traces.length ? "" : "No traces yet: every API request, cron tick and `motia emit` starts one.";
    } catch (err) {
      note.textContent = `Could not load traces: ${err.message}`;
    }
  };
  fill(root,
    h("div", { class: "toolbar" }, h("h2", {}, "Recent traces"), h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: load }, "Refresh")),
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
        failed ? badge(`${failed} failed`, "error") : badge("ok", "ok"),
        " · ", h("a", { href: `#/logs?trace_id=${encodeURIComponent(traceId)}` }, "live logs of this trace"))),
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
export function renderTraces(root, route) {
  if (route.parts[0]) return renderTrace(root, route.parts[0]);
  return renderTraceList(root);
}

