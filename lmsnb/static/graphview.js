// lmsnb GraphView front end: renders what the kernel computed (positions, colours, sizes,
// details, legend). It owns no graph logic: filters, search and label placement run here only
// because they are instant on data already in the page. `cytoscape` and `STYLE` are defined by
// the code Python prepends to this file.

const LABELS_MAX = 120; // labels on screen at once, most important first
const TOP_FIRST = 8; // this many most important nodes are labelled before community titles
const PANEL_W = 320;
const FIT_ZOOM_MAX = 1.25;
// Where a node's label may go, in order of preference: right, left, below, above.
const PLACES = [["", 1, 0], ["lm-lab-l", -1, 0], ["lm-lab-b", 0, 1], ["lm-lab-t", 0, -1]];
const PLACE_CLASSES = "lm-lab-l lm-lab-b lm-lab-t";

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
  const nodes = (graph.nodes || []).concat(graph.labels || []).map((n) => ({
    group: "nodes", data: { lf: 12, ...n }, position: { x: n.x, y: n.y } }));
  const edges = (graph.edges || []).map((e) => ({ group: "edges", data: e }));
  return nodes.concat(edges);
}

const isTitle = (n) => n.data("kind") === "label";

// Label widths as cytoscape draws them (its default font), plus the 2 px outline each side.
const FONT = '"Helvetica Neue", Helvetica, sans-serif';
const measureCtx = document.createElement("canvas").getContext("2d");
const unitWidths = new Map();
function labelWidth(text, px, bold) {
  const key = (bold ? "b:" : "") + text;
  if (!unitWidths.has(key)) {
    measureCtx.font = `${bold ? "bold " : ""}100px ${FONT}`;
    unitWidths.set(key, measureCtx.measureText(text).width / 100);
  }
  return unitWidths.get(key) * px + 4;
}
const isDrawn = (n) => !isTitle(n);

// A saved notebook keeps a PNG of the view as its own output (see picture.py); in the live
// page that output would be a second copy, so the view hides it. The PNG carries our key in a
// tEXt chunk right after its header.
function hidePictures(el, key) {
  if (!key) return () => {};
  const marker = "lmsnb-graph\u0000" + key;
  const mine = (img) => {
    const src = img.getAttribute("src") || "";
    if (!src.startsWith("data:image/png;base64,")) return false;
    const head = src.slice(22, 22 + 800);
    try { return atob(head.slice(0, head.length - (head.length % 4))).includes(marker); }
    catch (e) { return false; }
  };
  let observer = null;
  let tries = 0;
  const scan = (area) => {
    for (const img of area.querySelectorAll("img")) {
      if (!mine(img)) continue;
      const child = img.closest(".jp-OutputArea-child, .output_area") || img;
      child.style.display = "none";
      child.classList.add("lmsnb-picture-hidden");
    }
  };
  const attach = () => {
    // the whole cell: the picture goes to the cell's outputs even when the view sits in an
    // Output widget or a box
    const area = el.closest(".jp-Cell, .cell") || el.closest(".jp-OutputArea, .output");
    if (!area) {
      if (tries++ < 600) requestAnimationFrame(attach);
      return;
    }
    scan(area);
    observer = new MutationObserver(() => scan(area));
    observer.observe(area, { childList: true, subtree: true, attributes: true,
                             attributeFilter: ["src"] });
  };
  attach();
  return () => { tries = Infinity; if (observer) observer.disconnect(); };
}

function render({ model, el }) {
  el.classList.add("lmsnb-graph");
  const live = !model.get("_static");
  const search = h("input", { class: "lm-search", type: "search", placeholder: "Find entity…" });
  const typeSel = h("select", { class: "lm-type", title: "Filter by type" });
  const commSel = h("select", { class: "lm-community", title: "Filter by community" });
  const levelSel = h("select", { class: "lm-level", title: "Colour by community level" });
  const minDeg = h("input", { class: "lm-min-degree", type: "number", min: "0", value: "0",
                              title: "Minimum degree (relationships)" });
  const back = h("button", { class: "lm-back", title: "Back to the community overview" },
                 "◀ Overview");
  const fitBtn = h("button", { class: "lm-fit", title: "Show the whole graph" }, "⤢ Fit");
  const status = h("span", { class: "lm-status" });
  const message = h("div", { class: "lm-message" });
  const hlLine = h("div", { class: "lm-hltext" });
  const notes = h("div", { class: "lm-notes" });
  const canvas = h("div", { class: "lm-canvas" });
  const legend = h("details", { class: "lm-legend", open: "" });
  const panel = h("div", { class: "lm-panel" });
  el.append(
    h("div", { class: "lm-toolbar" }, search, h("label", {}, "type ", typeSel),
      h("label", {}, "community ", commSel), h("label", {}, "min degree ", minDeg),
      h("label", {}, "level ", levelSel), back, fitBtn, status),
    legend, message, hlLine, notes,
    h("div", { class: "lm-body" }, canvas, panel));

  const graph0 = model.get("graph");
  const big = (graph0.nodes || []).length > 1500;
  const cy = cytoscape({
    container: canvas, elements: toElements(graph0), style: STYLE,
    layout: { name: "preset", fit: true, padding: 24 }, minZoom: 0.02, maxZoom: 6,
    textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : "auto",
    boxSelectionEnabled: false,
  });
  el.lmsnbCy = cy; // handle for tests and power users (cytoscape.js API)

  // cytoscape caches where its canvas is on the page and re-reads it only on resize and on
  // scrolls of the ancestors it saw at start-up (none: the output is attached later). Any
  // scroll in the page (JupyterLab scrolls its notebook panel, not the window) can move us.
  const renderer = cy.renderer();
  const forget = () => {
    if (renderer && renderer.invalidateContainerClientCoordsCache)
      renderer.invalidateContainerClientCoordsCache();
    else cy.resize();
  };
  const scrollOpts = { capture: true, passive: true };
  document.addEventListener("scroll", forget, scrollOpts);
  window.addEventListener("resize", forget, scrollOpts);
  for (const ev of ["pointerdown", "mousedown", "touchstart", "wheel", "dblclick"])
    canvas.addEventListener(ev, forget, scrollOpts);

  // -- framing: fit once we have a size, and while a live graph grows until the user moves it
  let fitted = false;
  let userMoved = false;
  cy.on("dragpan scrollzoom pinchzoom", () => { userMoved = true; });
  function fitVisible() {
    const shown = cy.nodes().filter((n) => !n.hasClass("lm-hidden"));
    cy.fit(shown.nonempty() ? shown : undefined, 24);
    if (cy.zoom() > FIT_ZOOM_MAX) { // a handful of nodes: normal size, in the middle
      cy.zoom(FIT_ZOOM_MAX);
      cy.center(shown.nonempty() ? shown : undefined);
    }
    scheduleLabels(0);
  }
  const resized = new ResizeObserver(() => {
    if (!canvas.clientWidth || !canvas.clientHeight) return;
    cy.resize();
    forget();
    if (!fitted) { fitted = true; fitVisible(); }
  });
  resized.observe(canvas);
  cy.one("render", () => { el.dataset.painted = String(Date.now()); });

  // -- labels: the most important ones that fit without overlapping, at every zoom --------
  let order = [];
  let titles = [];
  function sortNodes() {
    const byRank = (a, b) => (a.data("rank") || 0) - (b.data("rank") || 0);
    order = cy.nodes().filter(isDrawn).sort(byRank).toArray();
    titles = cy.nodes().filter(isTitle).sort(byRank).toArray();
  }
  let labelled = cy.collection();
  let labelTimer = null;
  function scheduleLabels(delay = 120) {
    clearTimeout(labelTimer);
    labelTimer = setTimeout(placeLabels, delay);
  }
  function placeLabels() {
    const W = cy.width(), H = cy.height();
    if (!W || !H) return;
    const z = cy.zoom(), pan = cy.pan();
    const cell = 96, grid = new Map(), chosen = [];
    const cells = (b, fn) => {
      for (let i = Math.floor(b[0] / cell); i <= Math.floor(b[2] / cell); i++)
        for (let j = Math.floor(b[1] / cell); j <= Math.floor(b[3] / cell); j++) fn(i + "," + j);
    };
    const hits = (b) => {
      let found = false;
      cells(b, (k) => { for (const o of grid.get(k) || [])
        if (b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]) found = true; });
      return found;
    };
    const put = (b) => cells(b, (k) => { if (!grid.has(k)) grid.set(k, []); grid.get(k).push(b); });
    const seen = new Set();
    const consider = (n, force) => {
      if (seen.has(n.id())) return;
      if (n.hasClass("lm-hidden") || (!force && (n.hasClass("lm-faded") || n.hasClass("lm-dim"))))
        return;
      if (!force && chosen.length >= LABELS_MAX) return;
      const text = n.data("label") || "";
      if (!text) return;
      const p = n.position(), x = p.x * z + pan.x, y = p.y * z + pan.y;
      if (x < -40 || x > W + 40 || y < -20 || y > H + 20) return;
      const title = isTitle(n), fs = title ? 14 : (n.data("lfs") || 12);
      const w = labelWidth(text, fs, title), th = fs * 1.25 + 2, r = (n.data("size") || 0) * z / 2;
      let box = null, place = "";
      if (title) box = [x - w / 2, y - th / 2, x + w / 2, y + th / 2];
      else if (n.data("kind") === "community") box = [x - w / 2, y + r + 2, x + w / 2, y + r + 2 + th];
      if (box) {
        if (!force && hits(box)) return;
      } else {
        for (const [cls, dx, dy] of PLACES) {
          const cx = x + dx * (r + 3 + w / 2), cy_ = y + dy * (r + 2 + th / 2);
          const b = [cx - w / 2, cy_ - th / 2, cx + w / 2, cy_ + th / 2];
          if (force || !hits(b)) { box = b; place = cls; break; }
        }
        if (!box) return;
      }
      put(box); seen.add(n.id()); chosen.push([n, fs, place]);
      if (r > 2) put([x - r, y - r, x + r, y + r]); // later labels keep off this node too
    };
    const sel = cy.$("node:selected");
    sel.forEach((n) => consider(n, true));
    sel.neighborhood("node").slice(0, 30).forEach((n) => consider(n, false));
    cy.nodes(".lm-hl").forEach((n) => consider(n, false));
    for (const n of order.slice(0, TOP_FIRST)) consider(n, false);
    for (const n of titles) consider(n, false);
    for (const n of order) { if (chosen.length >= LABELS_MAX) break; consider(n, false); }
    // The font size is a style bypass in model units, so the label is `fs` px on screen at
    // this zoom; a bypass (unlike a data mapper) makes cytoscape re-measure the label.
    cy.batch(() => {
      labelled.removeClass("lm-label " + PLACE_CLASSES).removeStyle("font-size");
      labelled = cy.collection();
      for (const [n, fs, place] of chosen) {
        n.style("font-size", fs / z);
        if (place) n.addClass(place);
        labelled = labelled.union(n);
      }
      labelled.addClass("lm-label");
    });
    // The boxes above are estimates; drop any label that cytoscape really draws over another.
    const drawn = [];
    const off = [];
    for (const [n] of chosen) {
      const b = n.renderedBoundingBox({ includeNodes: false, includeEdges: false,
                                        includeLabels: true });
      if (drawn.some((o) => b.x1 < o.x2 - 1 && o.x1 < b.x2 - 1 && b.y1 < o.y2 - 1 && o.y1 < b.y2 - 1))
        off.push(n);
      else drawn.push(b);
    }
    if (off.length) cy.batch(() => {
      for (const n of off) {
        n.removeClass("lm-label " + PLACE_CLASSES).removeStyle("font-size");
        labelled = labelled.difference(n);
      }
    });
    el.dataset.labels = String(chosen.length - off.length);
  }
  cy.on("viewport", () => scheduleLabels());

  // -- toolbar, legend, lines of text ---------------------------------------------------
  let scope = model.get("info").scope;
  let said = null;

  function fill(select, options, value) {
    select.replaceChildren(...options.map(([v, label]) => h("option", { value: v }, label)));
    select.value = value;
  }

  function filtersActive() {
    const f = model.get("filters");
    return Boolean(f.type) || (f.community != null && f.community !== "") || (f.min_degree || 0) > 0;
  }

  function countStatus() {
    const info = model.get("info");
    if (!filtersActive() || info.mode !== "entities") { status.textContent = info.status || ""; return; }
    const nodes = cy.nodes().filter(isDrawn);
    const shown = nodes.filter((n) => !n.hasClass("lm-hidden"));
    const ents = (c) => c.filter((n) => n.data("kind") === "entity").length;
    const men = (c) => c.filter((n) => n.data("kind") === "mention").length;
    const edges = cy.edges(), shownEdges = edges.filter((e) => !e.hasClass("lm-hidden"));
    let text = `showing ${ents(shown).toLocaleString()} of ${ents(nodes).toLocaleString()} entities`;
    if (men(nodes)) text += ` (+${men(shown)} of ${men(nodes)} names only in relationships)`;
    text += ` · ${shownEdges.length.toLocaleString()} of ${edges.length.toLocaleString()} relationships`;
    status.textContent = text;
  }

  function drawLegend() {
    const lg = model.get("info").legend || {};
    const row = (swatch, text) => h("div", { class: "lm-legend-row" }, swatch, text);
    const dot = (colour, cls = "lm-dot") => {
      const d = h("span", { class: cls }); d.style.background = colour; return d;
    };
    const rows = [h("summary", {}, lg.by === "type" ? "Colour = entity type" :
                    "Colour = community")];
    for (const [colour, name, n] of lg.items || [])
      rows.push(row(dot(colour), `${name} (${n.toLocaleString()})`));
    if (lg.more) rows.push(row(h("span", { class: "lm-dot lm-more" }), `… ${lg.more} more`));
    if (lg.gray) rows.push(row(dot("#b8b8b8"),
      `gray: ${lg.by === "type" ? "no type" : "no community"} (${lg.gray.toLocaleString()})`));
    if (lg.mentions) rows.push(row(h("span", { class: "lm-dot lm-hollow" }),
      `hollow: only named in relationships (${lg.mentions.toLocaleString()})`));
    rows.push(row(h("span", { class: "lm-dot lm-size" }), `size = ${lg.size || "degree"}`));
    const hl = model.get("highlighted") || {};
    if ((hl.nodes || []).length || (hl.edges || []).length) {
      const ring = h("span", { class: "lm-dot lm-ring" });
      ring.style.borderColor = lg.highlight || "#e3120b";
      rows.push(row(ring, "highlighted"));
    }
    legend.replaceChildren(...rows);
  }

  function showMatches(list, text) {
    const items = list.slice(0, 12).map(([id, title]) => h("button", {
      class: "lm-match", "data-id": id, onclick: () => goTo(id, title) }, title));
    const more = list.length > 12 ? [h("span", {}, ` … ${list.length - 12} more`)] : [];
    message.replaceChildren(...(text ? [h("span", {}, text + " ")] : []), ...items, ...more);
    message.style.display = text || items.length ? "" : "none";
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
    if (document.activeElement !== minDeg) minDeg.value = String(f.min_degree || 0);
    back.style.display = live && info.scope !== "" ? "" : "none";
    if (info.said !== said) { // a new line from the kernel; an old one never comes back
      said = info.said;
      showMatches(info.matches || [], info.message || "");
    }
    hlLine.textContent = info.highlight || "";
    hlLine.style.display = info.highlight ? "" : "none";
    notes.replaceChildren(...(info.notes || []).map((t) => h("div", {}, "Note: " + t)));
    countStatus();
    drawLegend();
  }

  function applyFilters(reframe = true) {
    const f = model.get("filters");
    cy.batch(() => {
      cy.elements().removeClass("lm-hidden");
      const hide = cy.nodes().filter((n) => isDrawn(n) && (
        (f.type && n.data("kind") !== "community" && n.data("type") !== f.type) ||
        (f.community != null && f.community !== "" && n.data("kind") !== "community" &&
         String(n.data("community")) !== String(f.community)) ||
        ((n.data("degree") || 0) < (f.min_degree || 0))));
      hide.addClass("lm-hidden");
      hide.connectedEdges().addClass("lm-hidden");
      if (filtersActive()) cy.nodes().filter(isTitle).addClass("lm-hidden");
    });
    const sel = model.get("selected");
    if (sel && cy.getElementById(sel).hasClass("lm-hidden")) select("", false);
    countStatus();
    if (reframe && fitted) fitVisible(); else scheduleLabels(0);
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
    drawLegend();
    scheduleLabels(0);
  }

  function emphasise() {
    const sel = cy.$("node:selected");
    cy.batch(() => {
      cy.elements().removeClass("lm-dim");
      if (sel.nonempty() && isDrawn(sel[0]))
        cy.elements().difference(sel.closedNeighborhood()).addClass("lm-dim");
    });
    scheduleLabels(0);
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
    sortNodes();
    for (const id of [...picked.keys()])
      if (cy.getElementById(id).empty()) picked.delete(id); else cy.getElementById(id).addClass("lm-picked");
    const newScope = info.scope !== scope;
    if (newScope || info.fit) userMoved = false;
    scope = info.scope;
    refreshControls(); applyFilters(false); applyHighlight(); showDetails();
    if (fitted && (!userMoved || newScope || info.fit)) fitVisible();
  }

  // -- the side panel -----------------------------------------------------------------------
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
               badges: [`weight ${d.weight ?? "?"}`], sections: rows, actions: [] };
    }
    return { id: d.id, title: d.title || d.id,
             badges: [d.kind === "mention" ? "only in relationships" : "", d.type,
                      `degree ${d.degree ?? ""}`].filter(Boolean),
             sections: rows, actions: [] };
  }

  function showDetails() {
    const sel = model.get("selected");
    const ele = sel ? cy.getElementById(sel) : cy.collection();
    let d = model.get("details");
    if (sel && (!d || d.id !== sel) && ele.nonempty()) d = localDetails(ele);
    if (!sel || !d || d.id !== sel) {
      const box = mergeBox();
      panel.replaceChildren(...(box ? [box] : []));
      panel.style.display = box ? "" : "none";
      delete panel.dataset.selected;
      return;
    }
    const close = h("button", { class: "lm-close", title: "Close", onclick: () => select("", false) }, "×");
    const body = [close, h("h3", { class: "lm-title" }, d.title)];
    if (d.badges && d.badges.length)
      body.push(h("div", { class: "lm-badges" },
                  ...d.badges.map((b) => h("span", { class: "lm-badge" }, String(b)))));
    for (const s of d.sections || []) {
      if (s.items) body.push(section(s.heading, h("ol", { class: "lm-items" },
        ...s.items.map((it) => h("li", {}, h("b", {}, it.label ? it.label + " " : ""), it.text || "")))));
      else body.push(section(s.heading, h("p", {}, s.text || "")));
    }
    if (live && d.actions && d.actions.length) {
      const actions = h("div", { class: "lm-actions" });
      actions.append(...d.actions.map(([ev, label]) => h("button", {
        class: "lm-action", "data-event": ev,
        onclick: () => ev === "rename" ? renameForm(actions, sel, d.title)
          : ev === "pick" ? pick(sel) : model.send({ event: ev, id: sel }) }, label)));
      body.push(actions);
    }
    const box = mergeBox();
    if (box) body.unshift(box);
    panel.replaceChildren(...body);
    panel.style.display = "";
    panel.dataset.selected = sel;
  }

  // -- corrections: rename and merge are the index's own edits, done by the kernel ---------
  const picked = new Map(); // id -> title, in the order picked
  function pick(id) {
    const n = cy.getElementById(id);
    if (n.empty() || n.data("kind") !== "entity" || !(model.get("info").editable)) return;
    if (picked.has(id)) { picked.delete(id); n.removeClass("lm-picked"); }
    else { picked.set(id, n.data("title")); n.addClass("lm-picked"); }
    showDetails();
  }
  function clearPicks() {
    cy.nodes(".lm-picked").removeClass("lm-picked");
    picked.clear();
  }
  function mergeBox() {
    if (!live || picked.size === 0) return null;
    const titles = [...picked.values()];
    const into = h("input", { class: "lm-merge-into", type: "text", value: titles[0],
                              title: "Title of the merged entity" });
    const go = h("button", { class: "lm-merge" }, "Merge");
    go.disabled = picked.size < 2;
    const send = () => {
      if (picked.size < 2) return;
      model.send({ event: "merge", ids: [...picked.keys()], into: into.value });
      clearPicks(); showDetails();
    };
    go.addEventListener("click", send);
    into.addEventListener("keydown", (e) => { if (e.key === "Enter") send(); });
    return h("div", { class: "lm-section lm-merge-box" },
      h("h4", {}, `Merge ${picked.size} picked (shift-click to pick more)`),
      h("p", {}, titles.join(" · ")), h("label", {}, "into ", into), go,
      h("button", { class: "lm-merge-clear", onclick: () => { clearPicks(); showDetails(); } },
        "Clear"));
  }
  function renameForm(actions, id, title) {
    const input = h("input", { class: "lm-rename-to", type: "text", value: title });
    const send = () => model.send({ event: "rename", id, title: input.value });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") send(); });
    actions.replaceChildren(input, h("button", { class: "lm-rename", onclick: send }, "Rename"),
                            h("button", { onclick: showDetails }, "Cancel"));
    input.focus();
    input.select();
  }

  function select(id, center) {
    const ele = id ? cy.getElementById(id) : cy.collection();
    cy.elements(":selected").unselect();
    if (ele.nonempty()) {
      ele.select();
      if (center) {
        const z = Math.max(cy.zoom(), 1.2), p = ele.position();
        const cx = Math.max(cy.width() - PANEL_W, cy.width() / 2) / 2;
        cy.stop(true).animate({ zoom: z, pan: { x: cx - p.x * z, y: cy.height() / 2 - p.y * z } },
                              { duration: 250, complete: () => scheduleLabels(0) });
      }
    }
    model.set("selected", id);
    model.save_changes();
    emphasise();
    showDetails();
  }

  cy.on("tap", "node, edge", (evt) => {
    const e = evt.originalEvent || {};
    if ((e.shiftKey || e.ctrlKey || e.metaKey) && evt.target.isNode()) pick(evt.target.id());
    select(evt.target.id(), false);
  });
  cy.on("tap", (evt) => { if (evt.target === cy) select("", false); });
  cy.on("dbltap", "node", (evt) => {
    const kind = evt.target.data("kind");
    if (live) model.send({ event: kind === "community" ? "drill" : "expand", id: evt.target.id() });
  });

  // -- search: the best match is selected, the others are listed ----------------------------
  function goTo(id, title) {
    if (cy.getElementById(id).nonempty()) select(id, true);
    else if (live) model.send({ event: "show", id });
    else message.textContent = `“${title}” is not in this page`;
  }

  function find(query) {
    const q = query.trim().toLowerCase();
    if (!q) return;
    const score = (n) => {
      const t = String(n.data("title")).toLowerCase();
      return [t === q ? 0 : 1, t.startsWith(q) ? 0 : 1, -(n.data("degree") || 0), t.length];
    };
    const cmp = (a, b) => { const x = score(a), y = score(b);
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i]; return 0; };
    const hits = cy.nodes().filter((n) => isDrawn(n) && !n.hasClass("lm-hidden") &&
      String(n.data("title")).toLowerCase().includes(q)).sort(cmp).toArray();
    if (hits.length) {
      const list = hits.map((n) => [n.id(), n.data("title")]);
      showMatches(hits.length > 1 ? list : [], hits.length > 1 ?
        `${hits.length} entities match “${query.trim()}”: showing ${hits[0].data("title")}` : "");
      select(hits[0].id(), true);
    } else if (live) model.send({ event: "search", query });
    else showMatches([], `no entity matches “${query.trim()}”`);
  }
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") find(search.value); });

  function setFilters(patch) {
    model.set("filters", { ...model.get("filters"), ...patch });
    model.save_changes();
    applyFilters();
  }
  typeSel.addEventListener("change", () => setFilters({ type: typeSel.value }));
  commSel.addEventListener("change", () => setFilters({ community: commSel.value }));
  const degree = () => setFilters({ min_degree: Math.max(0, Number(minDeg.value) || 0) });
  minDeg.addEventListener("input", degree);
  minDeg.addEventListener("keydown", (e) => { if (e.key === "Enter") degree(); });
  levelSel.addEventListener("change", () => {
    model.set("level", Number(levelSel.value));
    model.save_changes();
  });
  back.addEventListener("click", () => model.send({ event: "back" }));
  fitBtn.addEventListener("click", () => { userMoved = false; fitVisible(); });

  // The kernel answers a search that needed a redraw (e.g. drilling into a community).
  const onMsg = (msg) => { if (msg && msg.event === "center") select(msg.id, true); };
  const onFilters = () => applyFilters();
  const onSelected = () => {
    const id = model.get("selected");
    if (cy.$(":selected").map((e) => e.id()).join() !== id) {
      cy.elements(":selected").unselect();
      if (id) cy.getElementById(id).select();
      emphasise();
    }
    showDetails();
  };
  const handlers = {
    "msg:custom": onMsg, "change:graph": syncGraph, "change:filters": onFilters,
    "change:highlighted": applyHighlight, "change:details": showDetails,
    "change:selected": onSelected, "change:info": refreshControls,
  };
  for (const [event, fn] of Object.entries(handlers)) model.on(event, fn);

  sortNodes();
  refreshControls(); applyFilters(false); applyHighlight();
  if (model.get("selected")) cy.getElementById(model.get("selected")).select();
  emphasise(); showDetails();
  const unhide = live ? hidePictures(el, model.get("_picture_key")) : () => {};
  return () => {
    unhide();
    clearTimeout(labelTimer);
    resized.disconnect();
    document.removeEventListener("scroll", forget, scrollOpts);
    window.removeEventListener("resize", forget, scrollOpts);
    for (const [event, fn] of Object.entries(handlers)) model.off(event, fn);
    cy.destroy();
  };
}

export default { render };
