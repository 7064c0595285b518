// The endpoint tester: for each API step a form with its path parameters, its query
// fields and a JSON body prefilled with an example generated from the body schema.
// Send calls the endpoint on this same server and shows status, timing and body.

import { h, fill, fmtDuration, jsonBlock, badge, traceLink, emptyState } from "./dom.js";
import { exampleFor, fieldTable } from "./schema.js";

const BODYLESS = new Set(["GET", "HEAD", "DELETE", "OPTIONS"]);
const enc = encodeURIComponent;

function endpointList(steps, current) {
  return h("nav", { class: "col endpoints", "aria-label": "API steps" }, h("h3", {}, "Endpoints"),
    h("ul", { class: "pick-list" }, steps.map((st) => h("li", {},
      h("a", { href: `#/endpoints/${enc(st.name)}`, class: st.name === current ? "current" : null,
        "aria-current": st.name === current ? "true" : null },
      h("span", { class: `method method-${st.method}` }, st.method), " ", h("code", {}, st.path),
      h("span", { class: "muted block" }, st.name))))));
}

function queryValue(raw, schema) {
  const type = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
  if (type === "array") return String(raw).split(",").map((v) => v.trim());
  return raw;
}

function queryFields(step) {
  const props = (step.query && step.query.properties) || {};
  const required = new Set((step.query && step.query.required) || []);
  const example = step.query ? exampleFor(step.query) : {};
  return Object.entries(props).map(([name, schema]) => {
    const value = example && example[name] !== undefined ? example[name] : "";
    return { name, schema, required: required.has(name),
      input: h("input", { type: "text", name, "data-query": name, value: Array.isArray(value) ? value.join(",") : String(value) }) };
  });
}

function buildUrl(step, params, query) {
  let path = step.path;
  for (const { name, input } of params) path = path.replace(`{${name}}`, enc(input.value));
  const search = new URLSearchParams();
  for (const { name, schema, input } of query) {
    if (input.value === "") continue;
    const value = queryValue(input.value, schema);
    (Array.isArray(value) ? value : [value]).forEach((v) => search.append(name, v));
  }
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}

function curlOf(method, url, body) {
  const origin = `${location.protocol}//${location.host}`;
  const data = body === null ? "" : ` \\\n  -H 'Content-Type: application/json' \\\n  -d '${body.replace(/'/g, "'\\''")}'`;
  return `curl -X ${method} '${origin}${url}'${data}`;
}

function showResponse(out, response, text, elapsed) {
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = undefined; }
  const kind = response.status < 300 ? "ok" : response.status < 500 ? "warn" : "error";
  const trace = response.headers.get("x-trace-id");
  const headers = [...response.headers.entries()];
  fill(out,
    h("div", { class: "response-head" },
      badge(`${response.status} ${response.statusText}`, kind),
      h("span", { class: "timing", "data-ms": elapsed.toFixed(1) }, fmtDuration(elapsed / 1000)),
      trace ? h("span", {}, "trace ", traceLink(trace)) : null),
    parsed === undefined ? h("pre", { class: "response-body" }, text) : jsonBlock(parsed, { class: "json response-body" }),
    h("details", {}, h("summary", {}, `Response headers (${headers.length})`),
      h("table", { class: "list compact" }, h("tbody", {}, headers.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))))));
}

function endpointForm(step) {
  const params = (step.path.match(/\{[^}]+\}/g) || []).map((seg) => {
    const name = seg.slice(1, -1);
    return { name, input: h("input", { type: "text", name, "data-param": name, value: "1", required: true }) };
  });
  const query = queryFields(step);
  const hasBody = step.body || !BODYLESS.has(step.method);
  const example = () => JSON.stringify(step.body ? exampleFor(step.body) : {}, null, 2);
  const body = hasBody ? h("textarea", { id: "tester-body", class: "json-edit", rows: 10, spellcheck: "false", "aria-label": "Request body (JSON)" }) : null;
  if (body) body.value = example();
  const problem = h("p", { class: "error-text", role: "alert" });
  const out = h("section", { class: "response", "aria-live": "polite", "aria-label": "Response" },
    h("p", { class: "muted" }, "The response appears here."));
  const curl = h("pre", { class: "curl" });
  const refreshCurl = () => { curl.textContent = curlOf(step.method, buildUrl(step, params, query), body ? body.value : null); };
  const send = h("button", { type: "submit", class: "primary", id: "tester-send" }, "Send");
  const submit = async (event) => {
    event.preventDefault();
    problem.textContent = "";
    if (body) {
      try { JSON.parse(body.value || "null"); } catch (err) { problem.textContent = `The body is not valid JSON: ${err.message}`; return; }
    }
    const missing = params.find((p) => !p.input.value);
    if (missing) { problem.textContent = `Fill in the path parameter ${missing.name}.`; return; }
    const url = buildUrl(step, params, query);
    send.disabled = true;
    fill(out, h("p", { class: "muted" }, `Sending ${step.method} ${url}…`));
    const started = performance.now();
    try {
      const init = { method: step.method, headers: { Accept: "application/json" }, credentials: "same-origin" };
      if (body && body.value.trim()) { init.body = body.value; init.headers["Content-Type"] = "application/json"; }
      const response = await fetch(url, init);
      const text = await response.text();
      showResponse(out, response, text, performance.now() - started);
    } catch (err) {
      fill(out, h("p", { class: "error-text" }, `The request failed: ${err.message}`));
    } finally {
      send.disabled = false;
    }
  };
  const form = h("form", { class: "tester", onsubmit: submit, oninput: refreshCurl },
    h("h2", {}, h("span", { class: `method method-${step.method}` }, step.method), " ", h("code", {}, step.path)),
    h("p", { class: "muted" }, `Step ${step.name}`, step.description ? ` — ${step.description}` : ""),
    params.length ? h("fieldset", {}, h("legend", {}, "Path parameters"),
      params.map((p) => h("label", { class: "field" }, h("span", {}, p.name, " ", h("span", { class: "req" }, "required")), p.input))) : null,
    query.length ? h("fieldset", {}, h("legend", {}, "Query"),
      query.map((q) => h("label", { class: "field" }, h("span", {}, q.name, q.required ? [" ", h("span", { class: "req" }, "required")] : ""), q.input,
        q.schema.description ? h("small", { class: "muted" }, q.schema.description) : null))) : null,
    body ? h("fieldset", {}, h("legend", {}, "Body (JSON)"), body,
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => { body.value = example(); refreshCurl(); } }, "Reset to example"))) : null,
    step.body ? h("details", { class: "schema" }, h("summary", {}, "Body schema"), fieldTable(step.body)) : null,
    problem,
    h("div", { class: "actions" }, send),
    h("details", {}, h("summary", {}, "As a curl command"), curl));
  refreshCurl();
  return h("div", { class: "tester-wrap" }, form, h("div", { class: "response-wrap" }, h("h3", {}, "Response"), out));
}

/** Route #/endpoints and #/endpoints/<step>. */
export function renderEndpoints(root, route, { model }) {
  const steps = model.steps.filter((st) => st.type === "api" && st.path);
  if (!steps.length) { fill(root, emptyState("This app has no API steps.")); return; }
  const step = steps.find((st) => st.name === route.parts[0]) || steps[0];
  fill(root, h("div", { class: "columns tester-columns" }, endpointList(steps, step.name), h("section", { class: "col grow" }, endpointForm(step))));
}
