// lmsnb GraphView front end: renders what the kernel computed (positions, colours, sizes,
// details). It owns no graph logic: filters and search run here only because they are
// instant on data already in the page. `cytoscape` is defined by the vendored bundle that
// Python prepends to this file.

const STYLE = [
  { selector: "node", style: {
      "background-color": "data(color)", width: "data(size)", height: "data(size)",
      label: "data(label)", "font-size": "data(font)", "min-zoomed-font-size": 8,
      color: "#1d1d1d", "text-outline-color": "#ffffff", "text-outline-width": 2,
      "text-valign": "center", "text-halign": "right", "text-margin-x": 3,
      "text-wrap": "ellipsis", "text-max-width": "160px", "border-width": 0.5,
      "border-color": "#ffffff" } },
  { selector: "node[kind = 'community']", style: {
      shape: "round-rectangle", "text-halign": "center", "text-valign": "bottom",
      "text-margin-y": 4, "text-wrap": "wrap", "border-width": 2, "border-color": "#444" } },
  { selector: "edge", style: {
      width: "data(width)", "line-color": "#9aa0a6", opacity: 0.45,
      "curve-style": "haystack" } },
  { selector: ".lm-hidden", style: { display: "none" } },
  { selector: ".lm-faded", style: { opacity: 0.12, "text-opacity": 0 } },
  { selector: "node.lm-hl", style: {
      "border-width": 4, "border-color": "#d62728", "text-opacity": 1, "z-index": 10 } },
  { selector: "edge.lm-hl", style: { "line-color": "#d62728", opacity: 0.95, "z-index": 9 } },
  { selector: "node:selected", style: { "border-width": 5, "border-color": "#111" } },
  { selector: "edge:selected", style: { "line-color": "#111", opacity: 1 } },
];

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function toElements(graph) {
  const nodes = (graph.nodes || []).map((n) => ({
    group: "nodes", data: n, position: { x: n.x, y: n.y } }));
  const edges = (graph.edges || []).map((e) => ({ group: "edges", data: e }));
  return nodes.concat(edges);
}

function render({ model, el }) {
  el.classList.add("lmsnb-graph");
  const live = !model.get("_static");
  const search = h("input", { class: "lm-search", type: "search", placeholder: "Find entity…",
                              list: "" });
  const datalist = h("datalist");
  const typeSel = h("select", { class: "lm-type", title: "Filter by type" });
  const commSel = h("select", { class: "lm-community", title: "Filter by community" });
  const levelSel = h("select", { class: "lm-level", title: "Colour by community level" });
  const minDeg = h("input", { class: "lm-min-degree", type: "number", min: "0", value: "0",
                              title: "Minimum degree" });
  const back = h("button", { class: "lm-back", title: "Back to the community overview" },
                 "◀ Overview");
  const status = h("span", { class: "lm-status" });
  const canvas = h("div", { class: "lm-canvas" });
  const panel = h("div", { class: "lm-panel" }, h("div", { class: "lm-hint" },
    "Click a node or edge for details. Double-click to expand a node or open a community."));
  el.append(
    h("div", { class: "lm-toolbar" }, search, datalist, h("label", {}, "type ", typeSel),
      h("label", {}, "community ", commSel), h("label", {}, "min degree ", minDeg),
      h("label", {}, "level ", levelSel), back, status),
    h("div", { class: "lm-body" }, canvas, panel));
  const dlId = "lm-dl-" + Math.random().toString(36).slice(2);
  datalist.id = dlId;
  search.setAttribute("list", dlId);

  const graph0 = model.get("graph");
  const big = (graph0.nodes || []).length > 1500;
  const cy = cytoscape({
    container: canvas, elements: toElements(graph0), style: STYLE,
    layout: { name: "preset", fit: true, padding: 20 }, minZoom: 0.02, maxZoom: 6,
    textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : "auto",
    boxSelectionEnabled: false,
  });
  el.lmsnbCy = cy; // handle for tests and power users (cytoscape.js API)
  // The output area may attach us with zero size: fit once we really have one.
  let fitted = false;
  const resized = new ResizeObserver(() => {
    if (!canvas.clientWidth || !canvas.clientHeight) return;
    cy.resize();
    if (!fitted) { fitted = true; cy.fit(undefined, 20); }
  });
  resized.observe(canvas);
  cy.one("render", () => { el.dataset.painted = String(Date.now()); });

  let scope = model.get("info").scope;

  function fill(select, options, value) {
    select.replaceChildren(...options.map(([v, label]) => h("option", { value: v }, label)));
    select.value = value;
  }

  function refreshControls() {
    const info = model.get("info");
    const f = model.get("filters");
    fill(typeSel, [["", "all"], ...(info.types || []).map((t) => [t, t])], f.type || "");
    fill(commSel, [["", "all"], ...(info.communities || []).map((c) => [String(c[0]), c[1]])],
         f.community == null ? "" : String(f.community));
    fill(levelSel, (info.levels || []).map((l) => [String(l), String(l)]),
         String(model.get("level")));
    levelSel.disabled = !live || (info.levels || []).length < 2;
    minDeg.value = String(f.min_degree || 0);
    back.style.display = live && info.scope !== "" ? "" : "none";
    status.textContent = info.status || "";
    datalist.replaceChildren(...cy.nodes().slice(0, 3000).map(
      (n) => h("option", { value: n.data("title") })));
  }

  function applyFilters() {
    const f = model.get("filters");
    cy.batch(() => {
      cy.elements().removeClass("lm-hidden");
      const hide = cy.nodes().filter((n) =>
        (f.type && n.data("kind") === "entity" && n.data("type") !== f.type) ||
        (f.community != null && f.community !== "" && n.data("kind") === "entity" &&
         String(n.data("community")) !== String(f.community)) ||
        ((n.data("degree") || 0) < (f.min_degree || 0)));
      hide.addClass("lm-hidden");
      hide.connectedEdges().addClass("lm-hidden");
    });
  }

  function applyHighlight() {
    const hl = model.get("highlighted") || { nodes: [], edges: [] };
    cy.batch(() => {
      cy.elements().removeClass("lm-hl lm-faded");
      const ids = new Set([...(hl.nodes || []), ...(hl.edges || [])]);
      if (ids.size === 0) return;
      const marked = cy.elements().filter((e) => ids.has(e.id()));
      marked.addClass("lm-hl");
      cy.elements().difference(marked).addClass("lm-faded");
    });
  }

  function syncGraph() {
    const graph = model.get("graph");
    const info = model.get("info");
    const wanted = new Map();
    for (const e of toElements(graph)) wanted.set(e.data.id, e);
    cy.batch(() => {
      cy.elements().filter((e) => !wanted.has(e.id())).remove();
      const add = [];
      for (const [id, e] of wanted) {
        const cur = cy.getElementById(id);
        if (cur.nonempty()) {
          cur.data(e.data);
          if (e.position) cur.position(e.position);
        } else add.push(e);
      }
      cy.add(add);
    });
    if (info.scope !== scope || info.fit) { scope = info.scope; cy.fit(undefined, 20); }
    refreshControls(); applyFilters(); applyHighlight(); showDetails();
  }

  function section(heading, body) {
    return h("div", { class: "lm-section" }, h("h4", {}, heading), body);
  }

  function localDetails(ele) {
    // Used when no kernel answers (static HTML): what the element itself carries.
    const d = ele.data();
    const rows = [];
    if (d.desc) rows.push({ heading: "Description", text: d.desc });
    const ct = (model.get("info").community_titles || {})[String(d.community)];
    if (ct) rows.push({ heading: "Community", text: ct });
    if (ele.isEdge()) {
      const t = (n) => n.data("title") || n.id();
      return { id: d.id, title: `${t(ele.source())} — ${t(ele.target())}`,
               badges: [`weight ${d.weight}`], sections: rows, actions: [] };
    }
    return { id: d.id, title: d.title || d.id,
             badges: [d.type, `degree ${d.degree ?? ""}`].filter(Boolean),
             sections: rows, actions: [] };
  }

  function showDetails() {
    const sel = model.get("selected");
    if (!sel) return;
    const ele = cy.getElementById(sel);
    let d = model.get("details");
    if (!d || d.id !== sel) {
      if (ele.empty()) return;
      d = localDetails(ele);
    }
    const body = [h("h3", { class: "lm-title" }, d.title)];
    if (d.badges && d.badges.length)
      body.push(h("div", { class: "lm-badges" },
                  ...d.badges.map((b) => h("span", { class: "lm-badge" }, String(b)))));
    for (const s of d.sections || []) {
      if (s.items) body.push(section(s.heading, h("ol", { class: "lm-items" },
        ...s.items.map((it) => h("li", {}, h("b", {}, it.label ? it.label + " " : ""), it.text || "")))));
      else body.push(section(s.heading, h("p", {}, s.text || "")));
    }
    if (live && d.actions && d.actions.length)
      body.push(h("div", { class: "lm-actions" }, ...d.actions.map(([ev, label]) =>
        h("button", { class: "lm-action", "data-event": ev,
                      onclick: () => model.send({ event: ev, id: sel }) }, label))));
    panel.replaceChildren(...body);
    panel.dataset.selected = sel;
  }

  function select(id, center) {
    const ele = cy.getElementById(id);
    cy.elements(":selected").unselect();
    if (ele.nonempty()) {
      ele.select();
      if (center) {
        const z = Math.max(cy.zoom(), 1.2), p = ele.position();
        cy.stop(true).animate({ zoom: z, pan: { x: cy.width() / 2 - p.x * z,
                                               y: cy.height() / 2 - p.y * z } },
                              { duration: 250 });
      }
    }
    model.set("selected", id);
    model.save_changes();
    showDetails();
  }

  cy.on("tap", "node, edge", (evt) => select(evt.target.id(), false));
  cy.on("dbltap", "node", (evt) => {
    const kind = evt.target.data("kind");
    if (live) model.send({ event: kind === "community" ? "drill" : "expand", id: evt.target.id() });
  });

  function find(query) {
    const q = query.trim().toLowerCase();
    if (!q) return;
    const nodes = cy.nodes();
    const hit = nodes.filter((n) => String(n.data("title")).toLowerCase() === q)[0] ||
                nodes.filter((n) => String(n.data("title")).toLowerCase().includes(q))[0];
    if (hit) select(hit.id(), true);
    else if (live) model.send({ event: "search", query });
    else status.textContent = `no entity matches “${query}”`;
  }
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") find(search.value); });

  function setFilters(patch) {
    model.set("filters", { ...model.get("filters"), ...patch });
    model.save_changes();
    applyFilters();
  }
  typeSel.addEventListener("change", () => setFilters({ type: typeSel.value }));
  commSel.addEventListener("change", () => setFilters({ community: commSel.value }));
  minDeg.addEventListener("change", () => setFilters({ min_degree: Number(minDeg.value) || 0 }));
  levelSel.addEventListener("change", () => {
    model.set("level", Number(levelSel.value));
    model.save_changes();
  });
  back.addEventListener("click", () => model.send({ event: "back" }));

  // The kernel answers a search that needed a redraw (e.g. drilling into a community).
  model.on("msg:custom", (msg) => { if (msg && msg.event === "center") select(msg.id, true); });
  model.on("change:graph", syncGraph);
  model.on("change:filters", applyFilters);
  model.on("change:highlighted", applyHighlight);
  model.on("change:details", showDetails);
  model.on("change:info", refreshControls);

  refreshControls(); applyFilters(); applyHighlight(); showDetails();
  return () => { resized.disconnect(); cy.destroy(); };
}

export default { render };
