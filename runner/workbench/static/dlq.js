// Dead letters: events a step gave up on after its last retry (or at once: data that
// breaks its schema), cron ticks out of retries, and messages the runtime could not read,
// with the error, the data (or the raw message) and a Replay button that sends the event
// to the step again (a new trace) or runs the tick again.

import { api, h, fill, fmtAgo, jsonBlock, toast, traceLink, emptyState, badge } from "./dom.js";

function errorText(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  return `${error.type || "Error"}: ${error.message || ""}`;
}

function replayed(result) {
  const trace = result.trace_id;
  toast(h("span", {}, `Replayed ${result.replayed}. `, trace ? h("a", { href: `#/traces/${encodeURIComponent(trace)}` }, "Open its trace") : ""));
}

/** What the letter holds: the event's topic, a cron tick, or a message nobody could read. */
function whatCell(letter) {
  if (letter.raw) return h("td", {}, letter.topic ? h("code", {}, letter.topic) : "", " ", badge("unreadable", "error"));
  if (!letter.topic) return h("td", {}, badge("cron tick", "info"));
  return h("td", {}, h("code", {}, letter.topic));
}

/** The event's data, or the raw message (its body as text or base64, its headers). */
function dataCell(letter) {
  const raw = letter.raw;
  if (!raw && !letter.topic && letter.data == null) return h("td", { class: "muted" }, "no data (a tick)");
  if (!raw) return h("td", {}, h("details", {}, h("summary", {}, "data"), jsonBlock(letter.data)));
  const size = raw.truncated ? `first ${raw.body.length} chars of ${raw.size} bytes` : `${raw.size} bytes`;
  return h("td", {}, h("details", { class: "raw-message" },
    h("summary", {}, `raw message (${raw.encoding}, ${size})`),
    h("pre", { class: "raw-body" }, raw.body),
    h("div", { class: "muted" }, "headers"), jsonBlock(raw.headers || {})));
}

function letterRow(letter, reload) {
  const button = h("button", { type: "button", class: "primary small replay", "data-id": letter.id, onclick: async () => {
    button.disabled = true;
    try {
      replayed(await api(`/dlq/${encodeURIComponent(letter.id)}/replay`, { method: "POST" }));
      reload();
    } catch (err) {
      toast(`Replay failed: ${err.message}`, "error");
      button.disabled = false;
    }
  } }, "Replay");
  return h("tr", { class: "dead-letter", "data-id": letter.id },
    h("td", { class: "nowrap muted" }, fmtAgo(letter.time)),
    h("td", {}, h("strong", {}, letter.step)),
    whatCell(letter),
    h("td", { class: "num" }, String(letter.attempts)),
    h("td", { class: "error-text" }, errorText(letter.error),
      letter.error && letter.error.errors ? h("ul", { class: "violations" }, letter.error.errors.map((e) => h("li", {}, h("code", {}, e.path || "/"), " ", e.message))) : null,
      letter.error && letter.error.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", { class: "traceback" }, letter.error.traceback)) : null),
    dataCell(letter),
    h("td", {}, letter.trace_id ? traceLink(letter.trace_id) : ""),
    h("td", {}, button));
}

/** Route #/dlq (optionally ?step=<name>). */
export function renderDlq(root, route, { model }) {
  let step = route.query.step || "";
  const load = async () => {
    let letters;
    try {
      ({ dead_letters: letters = [] } = await api(`/dlq${step ? `?step=${encodeURIComponent(step)}` : ""}`));
    } catch (err) {
      fill(root, emptyState(`Could not load dead letters: ${err.message}`));
      return;
    }
    const select = h("select", { id: "dlq-step", onchange: (e) => { step = e.target.value; load(); } },
      h("option", { value: "" }, "All steps"),
      model.steps.filter((st) => st.type === "event" || st.type === "cron").map((st) => h("option", { value: st.name }, st.name)));
    select.value = step;
    const replayAll = h("button", { type: "button", class: "primary", disabled: !letters.length, onclick: async () => {
      replayAll.disabled = true;
      try {
        const result = await api(`/dlq/replay${step ? `?step=${encodeURIComponent(step)}` : ""}`, { method: "POST" });
        const kept = Object.keys(result.kept || {}).length;
        toast(`Replayed ${(result.replayed || []).length} event(s)` + (kept ? `; kept ${kept} that cannot be replayed` : ""), kept ? "error" : "info");
      } catch (err) { toast(`Replay failed: ${err.message}`, "error"); }
      load();
    } }, `Replay all (${letters.length})`);
    fill(root,
      h("div", { class: "toolbar" }, h("h2", {}, "Dead letters"), h("label", { class: "field-inline" }, "Step ", select),
        h("span", { class: "spacer" }), h("button", { type: "button", onclick: load }, "Refresh"), replayAll),
      letters.length ? h("table", { class: "list dlq-table" },
        h("thead", {}, h("tr", {}, ["When", "Step", "Topic", "Attempts", "Error", "Data", "Trace", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, letters.map((letter) => letterRow(letter, load))))
        : emptyState("No dead letters.", "An event lands here when its step failed on every retry, when its data breaks its topic's schema, or when a message on a step queue is not a Motia event; replay it once the cause is fixed."));
  };
  load();
}
