// The Flows view: a flow picker (each flow with its description, "All steps" one click
// away), the diagram with its legend, a tooltip with a node's description on hover, the
// details panel of the chosen node, and a plain table of the steps drawn (readable
// without the picture). It opens on the first flow: a flow is the story people came for.

import { h, fill } from "./dom.js";
import { diagramGraph, stepId, trigger } from "./model.js";
import { positions, renderDiagram, highlight } from "./diagram.js";
import { detailsPanel } from "./details.js";

const ALL = "~all";
const NO_FLOW = "~none";
const LEGEND = [
  ["api", "API step", "an HTTP endpoint"],
  ["event", "Event step", "runs on a topic's events"],
  ["cron", "Cron step", "runs on a schedule"],
  ["noop", "Noop step", "manual, never run"],
  ["topic", "Topic", "carries events between steps"],
  ["stream", "Stream", "pushed live to clients"],
  ["state", "State", "data kept between runs"],
];

function stepFilter(flow) {
  if (flow === ALL) return () => true;
  if (flow === NO_FLOW) return (step) => step.flows.length === 0;
  return (step) => step.flows.includes(flow);
}

/** The flow a bare #/flows opens on: the first declared flow that has steps, else all. */
function defaultFlow(model) {
  return model.flows.find((f) => model.steps.some((st) => st.flows.includes(f.name)))?.name ?? ALL;
}

function flowPicker(model, current) {
  const tab = (value, name, count, description) => h("a", {
    class: `flow-tab${value === current ? " current" : ""}`, "data-flow": value,
    href: `#/flows/${encodeURIComponent(value)}`, "aria-current": value === current ? "page" : null,
  }, h("strong", {}, name), h("span", { class: "count" }, ` ${count}`),
  description ? h("span", { class: "muted block tab-description" }, description) : null);
  const inFlow = (name) => model.steps.filter((st) => st.flows.includes(name)).length;
  const loose = model.steps.filter((st) => !st.flows.length).length;
  return h("nav", { class: "flow-picker", id: "flow-picker", "aria-label": "Flows" },
    model.flows.map((f) => tab(f.name, f.name, inFlow(f.name), f.description)),
    loose ? tab(NO_FLOW, "In no flow", loose, "") : null,
    tab(ALL, "All steps", model.steps.length, ""));
}

function legend(used) {
  return h("ul", { class: "legend", "aria-label": "Legend" }, LEGEND.filter(([type]) => used.has(type)).map(([type, name, words]) =>
    h("li", {}, h("span", { class: `swatch type-${type}`, "aria-hidden": "true" }), h("strong", {}, name), ` — ${words}`)));
}

function stepsTable(model, steps, onSelect) {
  if (!steps.length) return null;
  return h("table", { class: "list steps-table" },
    h("caption", {}, "Steps in this view"),
    h("thead", {}, h("tr", {}, ["Step", "What it does", "Type", "Trigger", "Emits", "Flows", "Handler"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, steps.map((st) => h("tr", { "data-step": st.name },
      h("th", { scope: "row" }, h("button", { type: "button", class: "link", onclick: () => onSelect(stepId(st.name)) }, st.name)),
      h("td", { class: "step-description" }, st.description || h("span", { class: "muted" }, "–")),
      h("td", {}, h("span", { class: `type-tag type-${st.type}` }, st.type)),
      h("td", {}, st.type === "cron" ? [st.schedule || "", " ", h("code", { class: "muted" }, st.cron)] : h("code", {}, trigger(st))),
      h("td", {}, st.emits.join(", ") || "–"),
      h("td", {}, st.flows.join(", ") || h("span", { class: "muted" }, "none")),
      h("td", {}, st.handler ? h("code", {}, st.handler.path) : "–")))));
}

/** Render the Flows view into `root` for route {parts: [flow], query: {node}}. */
export function renderFlows(root, route, { model }) {
  let flow = route.parts[0] !== undefined ? route.parts[0] : defaultFlow(model);
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
    const base = `#/flows/${encodeURIComponent(flow)}`;
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

  const tip = h("div", { class: "node-tip", id: "node-tip", role: "tooltip", hidden: true });
  const showTip = (event) => {
    const node = event.target.closest && event.target.closest(".node");
    const data = node && graph.nodes.find((n) => n.id === node.dataset.id);
    if (!data) { tip.hidden = true; return; }
    fill(tip, h("strong", {}, data.label), h("span", { class: "muted" }, ` ${data.kind === "step" ? `${data.type} step` : data.kind}`),
      data.trigger ? h("div", { class: "tip-trigger" }, data.trigger) : null,
      h("div", { class: "tip-description" }, data.description || h("span", { class: "muted" }, "No description in motia.yaml.")));
    // Fixed to the viewport, so the canvas's scrolling box never cuts it off.
    const box = node.getBoundingClientRect();
    tip.hidden = false;
    const below = box.bottom + 6 + tip.offsetHeight <= window.innerHeight;
    tip.style.left = `${Math.max(4, Math.min(box.left, window.innerWidth - tip.offsetWidth - 4))}px`;
    tip.style.top = `${below ? box.bottom + 6 : Math.max(4, box.top - tip.offsetHeight - 6)}px`;
  };
  svg.addEventListener("mouseover", showTip);
  svg.addEventListener("focusin", showTip);
  svg.addEventListener("mouseleave", () => { tip.hidden = true; });
  svg.addEventListener("focusout", () => { tip.hidden = true; });
  const used = new Set(graph.nodes.map((n) => (n.kind === "step" ? n.type : n.kind)));

  fill(root,
    flowPicker(model, flow),
    h("div", { class: "toolbar" },
      describe ? h("p", { class: "flow-description", id: "flow-description" }, describe) : null,
      h("span", { class: "spacer" }),
      h("span", { class: "zoom", role: "group", "aria-label": "Zoom" },
        h("button", { type: "button", "aria-label": "Zoom out", onclick: () => userZoom((scale || 1) / 1.25) }, "−"),
        h("button", { type: "button", onclick: () => userZoom("fit") }, "Fit"),
        h("button", { type: "button", "aria-label": "Zoom in", onclick: () => userZoom((scale || 1) * 1.25) }, "+"))),
    legend(used),
    h("div", { class: "flow-layout" }, canvas, panel),
    tip,
    stepsTable(model, steps, select));
  if (!graph.nodes.length) {
    fill(canvas, h("p", { class: "empty" }, "No steps to draw in this view."));
  } else {
    fill(canvas, svg);
    zoom("fit");
  }
  setHash(); // a bare #/flows names the flow it opened on, so the address can be shared
  showPanel(false);
}
