// Dead letters: events a step gave up on after its last retry (or at once: data that
// breaks its schema), cron ticks out of retries, and messages the runtime could not read,
// with the error, the data (or the raw message) and a Replay button that sends the event
// to the step again (in its trace) or runs the tick again. "Edit & replay" sends it with
// corrected data, which the app checks against the topic's schema before anything is
// sent; "Delete" drops it. Both ask first, in the page.

import { api, h, fill, fmtAgo, jsonBlock, toast, traceLink, emptyState, badge } from "./dom.js";
import { fieldTable } from "./schema.js";

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

/** An in-page "are you sure?" with its own buttons (window.confirm cannot be styled or tested). */
function confirmBar(question, yesLabel, onYes, onNo) {
  const yes = h("button", { type: "button", class: "primary small confirm-yes", onclick: async () => {
    yes.disabled = true;
    try { await onYes(); } finally { yes.disabled = false; }
  } }, yesLabel);
  const bar = h("div", { class: "confirm", role: "alertdialog", "aria-label": question },
    h("span", {}, question), " ", yes, " ",
    h("button", { type: "button", class: "small confirm-no", onclick: onNo }, "Cancel"));
  queueMicrotask(() => yes.focus());
  return bar;
}

function violations(errors) {
  return errors && errors.length
    ? h("ul", { class: "violations" }, errors.map((e) => h("li", {}, h("code", {}, e.path || "/"), " ", e.message))) : null;
}

/** The editor of an event's data, with its topic's schema, and the confirmed replay. */
function editor(letter, model, close, reload) {
  const topic = model.topic(letter.topic);
  const area = h("textarea", { class: "edit-data", id: `edit-${letter.id}`, rows: 8, spellcheck: "false",
    "aria-label": `Data of the event to replay to ${letter.step}` });
  area.value = JSON.stringify(letter.data, null, 2);
  const problems = h("div", { class: "edit-errors", role: "alert" });
  const actions = h("div", { class: "edit-actions" });
  const send = async (data) => {
    try {
      const result = await api(`/dlq/${encodeURIComponent(letter.id)}/replay`, { method: "POST", json: { data } });
      toast(h("span", {}, `Replayed ${result.replayed} with edited data. `,
        h("a", { href: `#/traces/${encodeURIComponent(result.trace_id)}` }, "Open its trace")));
      reload();
    } catch (err) {
      idle();
      fill(problems, h("p", {}, err.message), violations(err.errors));
    }
  };
  const primary = h("button", { type: "button", class: "primary small edit-replay", onclick: () => {
    let data;
    try {
      data = JSON.parse(area.value);
    } catch (err) {
      fill(problems, h("p", {}, `Not valid JSON: ${err.message}`));
      return;
    }
    fill(problems);
    fill(actions, confirmBar(`Send this data to ${letter.step} again?`, "Replay", () => send(data), idle));
  } }, "Replay with these data");
  const closer = h("button", { type: "button", class: "small", onclick: close }, "Close");
  const idle = () => fill(actions, primary, " ", closer);
  idle();
  return h("div", { class: "editor" },
    h("label", { for: area.id }, `Event data for topic `, h("code", {}, letter.topic)), area, problems, actions,
    topic && topic.schema ? h("details", { class: "schema", open: true }, h("summary", {}, `Schema of ${letter.topic}`), fieldTable(topic.schema)) : null);
}

function letterRow(letter, reload, model) {
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
  const actions = h("div", { class: "letter-actions" });
  const extra = h("tr", { class: "letter-extra", hidden: true }, h("td", { colspan: 8 }));
  const closeExtra = () => { extra.hidden = true; fill(extra.firstChild); };
  const edit = letter.topic && !letter.raw ? h("button", { type: "button", class: "small edit", onclick: () => {
    extra.hidden = false;
    fill(extra.firstChild, editor(letter, model, closeExtra, reload));
    extra.querySelector("textarea").focus();
  } }, "Edit & replay") : null;
  const remove = h("button", { type: "button", class: "small danger delete", onclick: () => {
    fill(actions, confirmBar("Delete this dead letter for good?", "Delete", async () => {
      try {
        await api(`/dlq/${encodeURIComponent(letter.id)}`, { method: "DELETE" });
        toast(`Deleted dead letter of ${letter.step}`);
        reload();
      } catch (err) {
        toast(`Delete failed: ${err.message}`, "error");
      }
    }, () => fill(actions, button, edit, remove)));
  } }, "Delete");
  fill(actions, button, edit, remove);
  const row = h("tr", { class: "dead-letter", "data-id": letter.id },
    h("td", { class: "nowrap muted" }, fmtAgo(letter.time)),
    h("td", {}, h("strong", {}, letter.step)),
    whatCell(letter),
    h("td", { class: "num" }, String(letter.attempts)),
    h("td", { class: "error-text" }, errorText(letter.error),
      letter.error && letter.error.errors ? h("ul", { class: "violations" }, letter.error.errors.map((e) => h("li", {}, h("code", {}, e.path || "/"), " ", e.message))) : null,
      letter.error && letter.error.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", { class: "traceback" }, letter.error.traceback)) : null),
    dataCell(letter),
    h("td", {}, letter.trace_id ? traceLink(letter.trace_id) : ""),
    h("td", {}, actions));
  return [row, extra];
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
        h("tbody", {}, letters.map((letter) => letterRow(letter, load, model))))
        : emptyState("No dead letters.", "An event lands here when its step failed on every retry, when its data breaks its topic's schema, or when a message on a step queue is not a Motia event; replay it once the cause is fixed."));
  };
  load();
}
