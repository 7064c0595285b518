// Dead letters: events a step gave up on after its last retry, with the error, the data
// and a Replay button that sends the event to the step again (a new trace).

import { api, h, fill, fmtAgo, jsonBlock, toast, traceLink, emptyState } from "./dom.js";

function errorText(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  return `${error.type || "Error"}: ${error.message || ""}`;
}

function replayed(result) {
  const trace = result.trace_id;
  toast(h("span", {}, `Replayed ${result.replayed}. `, trace ? h("a", { href: `#/traces/${encodeURIComponent(trace)}` }, "Open its trace") : ""));
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
    h("td", {}, h("code", {}, letter.topic)),
    h("td", { class: "num" }, String(letter.attempts)),
    h("td", { class: "error-text" }, errorText(letter.error),
      letter.error && letter.error.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", { class: "traceback" }, letter.error.traceback)) : null),
    h("td", {}, h("details", {}, h("summary", {}, "data"), jsonBlock(letter.data))),
    h("td", {}, traceLink(letter.trace_id)),
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
        toast(`Replayed ${(result.replayed || []).length} event(s)`);
      } catch (err) { toast(`Replay failed: ${err.message}`, "error"); }
      load();
    } }, `Replay all (${letters.length})`);
    fill(root,
      h("div", { class: "toolbar" }, h("h2", {}, "Dead letters"), h("label", { class: "field-inline" }, "Step ", select),
        h("span", { class: "spacer" }), h("button", { type: "button", onclick: load }, "Refresh"), replayAll),
      letters.length ? h("table", { class: "list dlq-table" },
        h("thead", {}, h("tr", {}, ["When", "Step", "Topic", "Attempts", "Error", "Data", "Trace", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, letters.map((letter) => letterRow(letter, load))))
        : emptyState("No dead letters.", "An event lands here when its step failed on every retry; replay it once the cause is fixed."));
  };
  load();
}
