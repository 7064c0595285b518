// The Flows view: a flow selector, the diagram with its legend, the details panel of
// the chosen node, and a plain table of the steps drawn (readable without the picture).

import { h, fill } from "./dom.js";
import { diagramGraph, stepId, trigger } from "./model.js";
import { positions, renderDiagram, highlight } from "./diagram.js";
import { detailsPanel } from "./details.js";

const ALL = "";
const NO_FLOW = "~none";
const LEGEND = [
  ["api", "API step", "an HTTP endpoint"],
  ["event", "Event step", "runs on a topic's events"],
  ["cron", "Cron step", "runs on a schedule"],
  ["noop", "Noop step", "manual, never run"],
  ["topic", "Topic", "carries events between steps"],
];

function stepFilter(flow) {
  if (flow === ALL) return () => true;
  if (flow === NO_FLOW) return (step) => step.flows.length === 0;
  return (step) => step.flows.includes(flow);
}

function flowSelector(model, current, onChange) {
  const select = h("select", { id: "flow-select", onchange: (e) => onChange(e.target.value) },
    h("option", { value: ALL }, `All steps (${model.steps.length})`),
    model.flows.map((f) => h("option", { value: f.name },
      `${f.name} (${model.steps.filter((st) => st.flows.includes(f.name)).length})`)),
    model.steps.some((st) => !st.flows.length)
      ? h("option", { value: NO_FLOW }, `In no flow (${model.steps.filter((st) => !st.flows.length).length})`) : null);
  select.value = current;
  return h("label", { class: "field-inline" }, "Flow ", select);
}

function legend() {
  return h("ul", { class: "legend", "aria-label": "Legend" }, LEGEND.map(([type, name, words]) =>
    h("li", {}, h("span", { class: `swatch type-${type}`, "aria-hidden": "true" }), h("strong", {}, name), ` — ${words}`)));
}

function stepsTable(model, steps, onSelect) {
  if (!steps.length) return null;
  return h("table", { class: "list steps-table" },
    h("caption", {}, "Steps in this view"),
    h("thead", {}, h("tr", {}, ["Step", "Type", "Trigger", "Emits", "Flows", "Handler"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, steps.map((st) => h("tr", {},
      h("th", { scope: "row" }, h("button", { type: "button", class: "link", onclick: () => onSelect(stepId(st.name)) }, st.name)),
      h("td", {}, h("span", { class: `type-tag type-${st.type}` }, st.type)),
      h("td", {}, h("code", {}, trigger(st))),
      h("td", {}, st.emits.join(", ") || "–"),
      h("td", {}, st.flows.join(", ") || h("span", { class: "muted" }, "none")),
      h("td", {}, st.handler ? h("code", {}, st.handler.path) : "–")))));
}

/** Render the Flows view into `root` for route {parts: [flow], query: {node}}. */
export function renderFlows(root, route, { model }) {
  let flow = route.parts[0] !== undefined ? route.parts[0] : ALL;
  if (flow !== ALL && flow !== NO_FLOW && !model.flows.some((f) => f.name === flow)) flow = ALL;
  let selected = route.query.node || null;
  let scale = null;
  let userZoomed = false;

  const panel = h("aside", { class: "details", id: "details", "aria-label": "Details", hidden: true });
  const canvas = h("div", { class: "canvas", tabindex: "-1" });
  const steps = model.steps.filter(stepFilter(flow));
  const graph = diagramGraph(model, stepFilter(flow), flow === ALL);
  const serverLayout = flow === ALL ? model.layout : model.layouts[flow === NO_FLOW ? "" : flow];
  const placed = positions(graph, serverLayout);
  const describe = model.flows.find((f) => f.name === flow)?.description;

  const setHash = () => {
    const base = `#/flows${flow === ALL ? "" : `/${encodeURIComponent(flow)}`}`;
    history.replaceState(null, "", selected ? `${base}?node=${encodeURIComponent(selected)}` : base);
  };
  const select = (id) => {
    selected = id;
    setHash();
    highlight(svg, id);
    showPanel(true);
  };
  const close = () => {
    selected = null; setHash(); highlight(svg, null); showPanel(false);
    if (!userZoomed && graph.nodes.length) zoom("fit");
  };
  const showPanel = (focus) => {
    panel.hidden = !selected;
    if (!selected) return;
    fill(panel, detailsPanel(model, selected, { onSelect: select, onClose: close }));
    if (focus) panel.querySelector("#details-title")?.focus({ preventScroll: true });
    if (!userZoomed && graph.nodes.length) zoom("fit");
    const node = svg.querySelector(".node.selected");
    if (node) {
      // Keep the chosen box in view inside the (possibly scrolled) canvas.
      const box = node.getBoundingClientRect(), view = canvas.getBoundingClientRect();
      if (box.right > view.right || box.left < view.left) canvas.scrollLeft += box.left - view.left - view.width / 2 + box.width / 2;
      if (box.bottom > view.bottom || box.top < view.top) canvas.scrollTop += box.top - view.top - view.height / 2 + box.height / 2;
    }
  };
  const label = `Diagram of ${flow === ALL ? "all steps" : flow === NO_FLOW ? "steps in no flow" : `flow ${flow}`}: ${steps.length} steps`;
  const svg = renderDiagram(placed, { onSelect: select, selected, label });
  const userZoom = (next) => { userZoomed = next !== "fit"; zoom(next); };
  const zoom = (next) => {
    // With the details panel open the diagram keeps a readable size and scrolls instead.
    const floor = selected ? 0.85 : 0.35;
    const fitScale = Math.min(1.25, Math.max(floor, (canvas.clientWidth - 8) / placed.width));
    scale = next === "fit" ? fitScale : Math.min(2, Math.max(0.35, next));
    svg.setAttribute("width", Math.round(placed.width * scale));
    svg.setAttribute("height", Math.round(placed.height * scale));
  };

  fill(root,
    h("div", { class: "toolbar" },
      flowSelector(model, flow, (value) => { location.hash = value === ALL ? "#/flows" : `#/flows/${encodeURIComponent(value)}`; }),
      describe ? h("span", { class: "muted flow-description" }, describe) : null,
      h("span", { class: "spacer" }),
      h("span", { class: "zoom", role: "group", "aria-label": "Zoom" },
        h("button", { type: "button", "aria-label": "Zoom out", onclick: () => userZoom((scale || 1) / 1.25) }, "−"),
        h("button", { type: "button", onclick: () => userZoom("fit") }, "Fit"),
        h("button", { type: "button", "aria-label": "Zoom in", onclick: () => userZoom((scale || 1) * 1.25) }, "+"))),
    legend(),
    h("div", { class: "flow-layout" }, canvas, panel),
    stepsTable(model, steps, select));
  if (!graph.nodes.length) {
    fill(canvas, h("p", { class: "empty" }, "No steps to draw in this view."));
  } else {
    fill(canvas, svg);
    zoom("fit");
  }
  showPanel(false);
}
