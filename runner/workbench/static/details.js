// The side panel shown when a diagram node is chosen: a step's configuration, its
// schemas as field tables and the topics it sends and receives; or a topic's schema
// and the steps on both ends.

import { api, h, fill, fmtDuration, toast } from "./dom.js";
import { stateId, stepId, streamId, topicId } from "./model.js";
import { fieldTable } from "./schema.js";

const TYPE_WORDS = {
  api: "An HTTP endpoint: runs when a request arrives.",
  event: "Runs each time one of its topics receives an event.",
  cron: "Runs on a schedule.",
  noop: "A manual or external step: drawn in the diagram, never run by Motia.",
};

function row(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function chips(names, idOf, onSelect, empty = "none") {
  if (!names.length) return h("span", { class: "muted" }, empty);
  return h("span", { class: "chips" }, names.map((name) => h("button", {
    type: "button", class: `chip chip-${idOf(name).split(":")[0]}`, onclick: () => onSelect(idOf(name)),
  }, name)));
}

function fmtBytes(bytes) {
  if (typeof bytes !== "number") return "";
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  return `${Math.round(bytes / 1024 ** 2)} MB`;
}

function section(title, ...content) {
  return h("section", { class: "panel-section" }, h("h3", {}, title), ...content);
}

function schemaBlock(title, schema, open = true) {
  return h("details", { class: "schema", open }, h("summary", {}, title), fieldTable(schema));
}

function triggerRows(step, model, onSelect) {
  if (step.type === "api") {
    return [
      ...row("Endpoint", h("code", { class: "endpoint" }, h("span", { class: `method method-${step.method}` }, step.method), " ", step.path)),
      ...row("Try it", h("a", { href: `#/endpoints/${encodeURIComponent(step.name)}` }, "Open in the endpoint tester")),
    ];
  }
  if (step.type === "cron") {
    return [
      ...row("Schedule", h("span", { class: "cron-words" }, step.schedule || step.cron), " ", h("code", { class: "muted" }, step.cron)),
      ...row("Next run", nextRun(step)),
      ...row("Run now", runNow(step)),
    ];
  }
  return row("Runs on", chips(step.subscribes, topicId, onSelect));
}

/** The next fire times, from the running app (they move on as time passes). */
function nextRun(step) {
  const out = h("span", { class: "cron-next muted" }, "…");
  api("/cron").then(({ cron = [] }) => {
    const found = cron.find((c) => c.step === step.name);
    // Shown in the step's own zone (the ISO times carry its offset), as the schedule reads.
    const at = (iso) => iso.replace("T", " ").slice(0, 19);
    fill(out, found && found.next.length
      ? [at(found.next[0]), found.next.length > 1 ? `, then ${at(found.next[1]).slice(11)}` : "", ` ${found.timezone}`]
      : "not scheduled");
  }).catch((err) => fill(out, `unknown (${err.message})`));
  return out;
}

/** Fire one tick now, through the same lease as the schedule (one replica runs it). */
function runNow(step) {
  const note = h("span", { class: "muted run-now-result", role: "status" });
  const button = h("button", { type: "button", class: "primary small", id: "run-now", onclick: async () => {
    button.disabled = true;
    try {
      const key = `${Date.now()}-${Math.random().toString(16).slice(2)}`;
      const result = await api(`/cron/${encodeURIComponent(step.name)}/run`, { method: "POST", json: { key } });
      if (result.fired) {
        fill(note, " Fired. ", h("a", { href: `#/traces/${encodeURIComponent(result.trace_id)}` }, "Open its trace"));
        toast(`Ran ${step.name} now`);
      } else {
        fill(note, " Another replica ran it.");
      }
    } catch (err) {
      fill(note, ` ${err.message}`);
      toast(`Run now failed: ${err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  } }, "Run now");
  return [button, note];
}

/** `idempotency:` in words: what counts as a repeat, and for how long it is remembered. */
function idempotencyText(step) {
  const { key, ttl } = step.idempotency;
  const what = key ? h("code", {}, key) : (step.type === "cron" ? "the tick" : "the event id");
  const repeat = step.type === "api" ? "a repeat gets the first answer" : "a repeat is skipped";
  return [`once per `, what, `; ${repeat} for ${fmtDuration(ttl)}`];
}

/** `flow:` in words, each rule with how many events wait on it now (GET /flow). */
function flowControlRows(step) {
  if (!step.flow_control) return [];
  const list = h("ul", { class: "flow-rules" }, h("li", { class: "muted" }, "loading…"));
  api("/flow").then((answer) => {
    const rules = (answer.steps || {})[step.name] || [];
    list.replaceChildren(...rules.map((r) => h("li", { "data-rule": r.rule }, r.text, " — ",
      h("strong", { class: "waiting" }, `${r.waiting} waiting`))));
  }).catch((err) => list.replaceChildren(h("li", { class: "muted" }, `unknown (${err.message})`)));
  return row("Flow control", list);
}

function executionRows(step) {
  if (step.type === "noop") return [];
  const backoff = step.backoff || {};
  const retries = step.type === "api" ? "none (the caller sees the error)"
    : `${step.retries ?? "–"} after the first attempt${backoff.initial !== undefined
      ? `, waiting ${fmtDuration(backoff.initial)} × ${backoff.factor} (at most ${fmtDuration(backoff.max)})` : ""}`;
  return [
    ...row("Timeout", fmtDuration(step.timeout)),
    ...row("Retries", retries),
    ...(step.idempotency ? row("Idempotent", idempotencyText(step)) : []),
    ...flowControlRows(step),
    ...row("Workers", `${step.workers ?? 1} worker process${step.workers > 1 ? "es" : ""}, up to ${step.concurrency ?? "–"} runs at once${step.memory ? `, ${fmtBytes(step.memory)} memory each` : ""}`),
  ];
}

function stepPanel(step, model, onSelect) {
  const handler = step.handler;
  const config = h("dl", { class: "config" },
    ...row("Type", h("span", { class: `type-tag type-${step.type}` }, step.type)),
    ...triggerRows(step, model, onSelect),
    ...row("Emits", chips(step.emits, topicId, onSelect, "nothing")),
    ...(step.stateWrites.length || step.stateReads.length ? [
      ...row("Writes state", chips(step.stateWrites, stateId, onSelect, "nothing")),
      ...row("Reads state", chips(step.stateReads, stateId, onSelect, "nothing"))] : []),
    ...(step.streams.length ? row("Streams", chips(step.streams, streamId, onSelect)) : []),
    ...row("Flows", step.flows.length ? step.flows.map((f, i) => [i ? ", " : "", h("a", { href: `#/flows/${encodeURIComponent(f)}` }, f)]) : h("span", { class: "muted" }, "in no flow")),
    ...(handler ? row("Handler", h("code", {}, `${handler.path}:${handler.function}`), " ",
      h("span", { class: `lang lang-${handler.language}` }, handler.language === "node" ? "Node.js" : "Python")) : []),
    ...executionRows(step),
  );
  const schemas = [];
  if (step.body) schemas.push(schemaBlock("Request body", step.body));
  if (step.query) schemas.push(schemaBlock("Query parameters", step.query));
  for (const r of step.responses) schemas.push(schemaBlock(`Response ${r.status}`, r.schema, false));
  for (const name of step.subscribes) schemas.push(schemaBlock(`Receives ${name}`, model.topic(name)?.schema, step.type !== "api"));
  for (const name of step.emits) schemas.push(schemaBlock(`Sends ${name}`, model.topic(name)?.schema, false));
  return [
    h("p", { class: "lead" }, step.description || TYPE_WORDS[step.type] || ""),
    config,
    schemas.length ? section("Schemas", ...schemas) : null,
  ];
}

function topicPanel(topic, model, onSelect) {
  const names = (steps) => steps.map((st) => st.name);
  return [
    h("p", { class: "lead" }, topic.description || "A topic: steps send events to it and other steps run on them."),
    h("dl", { class: "config" },
      ...row("Type", h("span", { class: "type-tag type-topic" }, "topic")),
      ...row("Schema", topic.schemaName ? h("code", {}, topic.schemaName) : h("span", { class: "muted" }, topic.schema ? "inline" : "none")),
      ...row("Sent by", chips(names(model.emitters(topic.name)), stepId, onSelect, "no step (only `motia emit`)")),
      ...row("Received by", chips(names(model.subscribers(topic.name)), stepId, onSelect, "no step")),
    ),
    section("Event data", fieldTable(topic.schema)),
  ];
}

function statePanel(group, model, onSelect) {
  const names = (steps) => steps.map((st) => st.name);
  return [
    h("p", { class: "lead" }, "A state group: data steps keep between runs with ctx.state."),
    h("dl", { class: "config" },
      ...row("Type", h("span", { class: "type-tag type-state" }, "state")),
      ...row("Written by", chips(names(model.writers(group)), stepId, onSelect, "no step")),
      ...row("Read by", chips(names(model.readers(group)), stepId, onSelect, "no step")),
      ...row("Browse", h("a", { href: `#/state/${encodeURIComponent(group)}` }, "Open in the State view"))),
  ];
}

function streamPanel(stream, model, onSelect) {
  return [
    h("p", { class: "lead" }, stream.description || "A stream: items pushed live to subscribed clients."),
    h("dl", { class: "config" },
      ...row("Type", h("span", { class: "type-tag type-stream" }, "stream")),
      ...row("Written by", chips(model.streamWriters(stream.name).map((st) => st.name), stepId, onSelect, "no step")),
      ...row("Browse", h("a", { href: `#/streams/${encodeURIComponent(stream.name)}` }, "Open in the Streams view"))),
    section("Item", fieldTable(stream.schema)),
  ];
}

const PANELS = {
  step: (name, model, onSelect) => { const it = model.step(name); return it && [it.type, stepPanel(it, model, onSelect)]; },
  topic: (name, model, onSelect) => { const it = model.topic(name); return it && ["topic", topicPanel(it, model, onSelect)]; },
  state: (name, model, onSelect) => (model.groups.includes(name) ? ["state", statePanel(name, model, onSelect)] : null),
  stream: (name, model, onSelect) => {
    const it = model.streams.find((st) => st.name === name) || (model.streamWriters(name).length ? { name, description: "", schema: null } : null);
    return it && ["stream", streamPanel(it, model, onSelect)];
  },
};

/** The panel's content for node `id` ("step:x", "topic:y", "state:g" or "stream:s"). */
export function detailsPanel(model, id, { onSelect, onClose }) {
  const [kind, ...rest] = id.split(":");
  const name = rest.join(":");
  const found = PANELS[kind] ? PANELS[kind](name, model, onSelect) : null;
  const title = h("h2", { tabindex: "-1", id: "details-title" }, name);
  const close = h("button", { type: "button", class: "close", "aria-label": "Close details", onclick: onClose }, "×");
  if (!found) return [h("header", {}, title, close), h("p", {}, `Nothing named ${name} in this app.`)];
  const [type, body] = found;
  return [h("header", {}, h("span", { class: `kind-dot type-${type}`, "aria-hidden": "true" }), title, close), ...body];
}
