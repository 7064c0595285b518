// The side panel shown when a diagram node is chosen: a step's configuration, its
// schemas as field tables and the topics it sends and receives; or a topic's schema
// and the steps on both ends.

import { api, h, fmtDuration } from "./dom.js";
import { describeCron, stepId, topicId } from "./model.js";
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
    const words = describeCron(step.cron);
    return row("Schedule", h("code", {}, step.cron), words ? ` — ${words}` : "", step.timezone ? ` (${step.timezone})` : "");
  }
  return row("Runs on", chips(step.subscribes, topicId, onSelect));
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

/** The panel's content for node `id` ("step:x" or "topic:y"). */
export function detailsPanel(model, id, { onSelect, onClose }) {
  const [kind, ...rest] = id.split(":");
  const name = rest.join(":");
  const item = kind === "step" ? model.step(name) : model.topic(name);
  const title = h("h2", { tabindex: "-1", id: "details-title" }, name);
  const close = h("button", { type: "button", class: "close", "aria-label": "Close details", onclick: onClose }, "×");
  if (!item) return [h("header", {}, title, close), h("p", {}, `Nothing named ${name} in this app.`)];
  const body = kind === "step" ? stepPanel(item, model, onSelect) : topicPanel(item, model, onSelect);
  return [h("header", {}, h("span", { class: `kind-dot type-${kind === "step" ? item.type : "topic"}`, "aria-hidden": "true" }), title, close), ...body];
}
