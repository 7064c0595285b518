// The Workbench page: loads the app once, then routes the URL hash to a view.
// Routes: #/flows[/<flow>][?node=<id>], #/logs, #/traces[/<id>], #/state[/<group>[/<key>]],
// #/streams[/<stream>[/<group>]], #/dlq, #/endpoints[/<step>].

import { api, h, fill } from "./dom.js";
import { buildModel } from "./model.js";
import { renderFlows } from "./flows.js";
import { renderLogs, connectLogs } from "./logs.js";
import { renderTraces } from "./traces.js";
import { renderState } from "./state.js";
import { renderDlq } from "./dlq.js";
import { renderEndpoints } from "./tester.js";
import { renderStreams } from "./streams.js";

const VIEWS = {
  flows: { title: "Flows", render: renderFlows },
  endpoints: { title: "Endpoints", render: renderEndpoints },
  logs: { title: "Logs", render: renderLogs },
  traces: { title: "Traces", render: renderTraces },
  state: { title: "State", render: renderState },
  streams: { title: "Streams", render: renderStreams },
  dlq: { title: "Dead letters", render: renderDlq },
};

let model = null;
let cleanup = null;

/** {view, parts, query} from "#/view/a/b?x=1". */
export function parseRoute(hash) {
  const [path, search = ""] = hash.replace(/^#\/?/, "").split("?");
  const [view, ...parts] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: VIEWS[view] ? view : "flows", parts, query: Object.fromEntries(new URLSearchParams(search)) };
}

function nav(current) {
  for (const link of document.querySelectorAll("#nav a")) {
    const on = link.dataset.view === current;
    link.classList.toggle("current", on);
    if (on) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
}

function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const current = parseRoute(location.hash);
  const root = document.getElementById("view");
  nav(current.view);
  document.title = `${VIEWS[current.view].title} · ${model.name} · Motia Workbench`;
  root.dataset.view = current.view;
  const result = VIEWS[current.view].render(root, current, { model });
  cleanup = typeof result === "function" ? result : null;
}

function header(health) {
  fill(document.getElementById("app-name"), model.name);
  const info = document.getElementById("app-info");
  if (!health) return;
  fill(info,
    h("span", { class: "dot dot-ok", "aria-hidden": "true" }),
    `${health.status === "ok" ? "running" : health.status}`,
    health.events ? ` · events: ${health.events}` : "",
    health.state ? ` · state: ${health.state}` : "",
    health.role && health.role !== "all" ? ` · role: ${health.role}` : "");
}

function dropTokenFromUrl() {
  // Opened as /__motia/?token=...: the server has set the cookie, keep the token out of history.
  const url = new URL(location.href);
  if (!url.searchParams.has("token")) return;
  url.searchParams.delete("token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
}

async function boot() {
  dropTokenFromUrl();
  const root = document.getElementById("view");
  try {
    const [payload, health] = await Promise.all([api("/app"), api("/health").catch(() => null)]);
    model = buildModel(payload);
    header(health);
  } catch (err) {
    fill(root, h("div", { class: "empty" }, h("h2", {}, "The Workbench cannot reach the app"), h("p", {}, err.message),
      err.status === 401 ? h("p", {}, "Open this page with ?token=<MOTIA_WORKBENCH_TOKEN> once.") : null));
    document.body.dataset.ready = "error";
    return;
  }
  window.addEventListener("hashchange", route);
  route();
  connectLogs();
  document.body.dataset.ready = "true";
}

boot();
