/* shufflecalc report page: reads the inlined JSON (#report-data) and draws the comparison, the summary, the treemap
 * (Apache ECharts), the network graph (Cytoscape.js with the dagre layout), the layer table and the closed forms.
 * Everything it needs is inlined in the page: it requests nothing. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var HEADERS = DATA.headers;
  var PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc", "#8d6e63", "#26a69a",
                 "#b0bec5"];
  var TREEMAP_METRICS = { macs: "MACs", params: "params", memory_access: "memory access" };
  var state = { model: 0, metric: "macs", compareMetric: "macs", expanded: {}, sort: { key: "index", desc: false }, filter: "",
                hideZero: false, selected: null };
  var api = { data: DATA, state: state, treemap: null, compare: null, composition: null, cy: null };
  window.shufflecalcReport = api;

  // --- formatting -----------------------------------------------------------------------------------------------

  var UNITS = [[1, ""], [1e3, "K"], [1e6, "M"], [1e9, "G"], [1e12, "T"]];

  function human(n) {  // 568740352 -> "568.74M": powers of 1000, two decimals (report/render.py's human)
    if (n === null || n === undefined) { return ""; }
    if (typeof n === "string") { return n; }  // an exact fraction "n/d"
    var value = Math.abs(n), i = 0;
    for (var k = 0; k < UNITS.length; k++) { if (value >= UNITS[k][0]) { i = k; } }
    if (i === 0) { return String(n); }
    var text = (n / UNITS[i][0]).toFixed(2);
    if (Math.abs(parseFloat(text)) >= 1000 && i + 1 < UNITS.length) { i += 1; text = (n / UNITS[i][0]).toFixed(2); }
    return text + UNITS[i][1];
  }

  function exact(n) {  // 4089184256 -> "4,089,184,256"; "7/2" (an exact fraction) as it is
    if (n === null || n === undefined) { return ""; }
    if (typeof n === "string") { return n; }
    var s = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (n < 0 ? "-" : "") + s;
  }

  function shape(s) { return s.join("x"); }
  function percent(part, whole) { return whole ? (100 * part / whole).toFixed(1) + "%" : ""; }
  function ratio(r) { return r === null || r === undefined ? "" : r.toFixed(3) + "\u00d7"; }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") { node.textContent = attrs[k]; }
        else if (k === "cls") { node.className = attrs[k]; }
        else { node.setAttribute(k, attrs[k]); }
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) { continue; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function countCell(n, extra) {  // a count: human-readable, the exact integer on hover
    return el("td", { cls: "num" + (extra ? " " + extra : ""), title: exact(n), text: human(n) });
  }

  function fill(table, head, rows, foot) {
    table.textContent = "";
    var thead = el("thead"), tr = el("tr");
    head.forEach(function (h) { tr.appendChild(h); });
    thead.appendChild(tr);
    table.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (r) { tbody.appendChild(r); });
    table.appendChild(tbody);
    if (foot) { var tfoot = el("tfoot"); tfoot.appendChild(foot); table.appendChild(tfoot); }
    return tbody;
  }

  function th(text, num, title) { return el("th", { cls: num ? "num" : "", title: title || "", text: text }); }

  function model() { return DATA.models[state.model]; }

  // --- layers, groups, hierarchy ------------------------------------------------------------------------------------

  function index(m) {  // cached lookups of one model
    if (m._index) { return m._index; }
    var groups = {}, layers = {}, children = {};
    m.groups.forEach(function (g) { groups[g.id] = g; children[g.id] = []; });
    m.layers.forEach(function (l, i) { l.index = i; layers[l.name] = l; if (l.parent) { children[l.parent].push(l); } });
    var units = {};
    if (m.explain) {
      m.explain.units.forEach(function (u) {
        units[u.name] = u;
        u.layers.forEach(function (x) { if (x.in_formula) { layers[x.name].term = x.substituted; } });
      });
    }
    m._index = { groups: groups, layers: layers, children: children, units: units };
    return m._index;
  }

  function ancestors(m, parent) {  // group ids from the outermost down to `parent`
    var chain = [], ix = index(m);
    while (parent) { chain.unshift(parent); parent = ix.groups[parent].parent; }
    return chain;
  }

  function localName(name, parent) { return parent && name.indexOf(parent + ".") === 0 ? name.slice(parent.length + 1) : name; }

  // --- comparison ---------------------------------------------------------------------------------------------------

  function drawComparison() {
    if (!DATA.comparison) { return; }
    document.getElementById("comparison").hidden = false;
    var labels = DATA.models.map(function (m) { return m.label; });
    var head = [th("metric (batch 1)")];
    labels.forEach(function (label, i) {
      head.push(th(label, true));
      if (i) { head.push(th(label + " / " + labels[0], true)); }
    });
    var rows = [];
    var inputRow = el("tr", null, el("td", { text: "input" }));
    DATA.models.forEach(function (m, i) {
      inputRow.appendChild(el("td", { cls: "num", text: shape(m.input) }));
      if (i) { inputRow.appendChild(el("td")); }
    });
    rows.push(inputRow);
    var configRow = el("tr", null, el("td", { text: "parameters" }));
    DATA.models.forEach(function (m, i) {
      configRow.appendChild(el("td", { cls: "config", text: m.config }));
      if (i) { configRow.appendChild(el("td")); }
    });
    rows.push(configRow);
    DATA.comparison.forEach(function (row) {
      var tr = el("tr", null, el("td", { text: HEADERS[row.metric], title: DATA.conventions[row.metric] }));
      row.values.forEach(function (v, i) {
        tr.appendChild(countCell(v));
        if (i) { tr.appendChild(el("td", { cls: "num ratio", text: ratio(row.ratios[i]) })); }
      });
      rows.push(tr);
    });
    fill(document.getElementById("compare-table"), head, rows);

    Array.prototype.forEach.call(document.querySelectorAll("#comparison button[data-metric]"), function (b) {
      b.addEventListener("click", function () { state.compareMetric = b.getAttribute("data-metric"); drawComposition(); });
    });
    drawComposition();
    var chart = echarts.init(document.getElementById("compare-chart"), null, { renderer: "svg" });
    api.compare = chart;
    chart.setOption({
      animation: false,
      title: { text: "ratio to " + labels[0], left: "center", textStyle: { fontSize: 13 } },
      legend: { top: 24, data: labels.slice(1) },
      grid: { left: 190, right: 40, top: 56, bottom: 24 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", name: "\u00d7 " + labels[0], nameLocation: "end" },
      yAxis: { type: "category", inverse: true, data: DATA.comparison.map(function (r) { return HEADERS[r.metric]; }) },
      color: PALETTE.slice(1),
      series: labels.slice(1).map(function (label, k) {
        return {
          name: label, type: "bar",
          data: DATA.comparison.map(function (r) { return r.ratios[k + 1]; }),
          label: { show: true, position: "right", formatter: function (p) { return ratio(p.value); } }
        };
      })
    });
  }

  function drawComposition() {  // each model's metric split by operator class, stacked
    var metric = state.compareMetric;
    Array.prototype.forEach.call(document.querySelectorAll("#comparison button[data-metric]"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-metric") === metric));
    });
    var classes = {};
    DATA.models.forEach(function (m) { Object.keys(m.by_class).forEach(function (k) { classes[k] = true; }); });
    var names = Object.keys(classes).sort();
    var chart = api.composition || echarts.init(document.getElementById("composition-chart"), null, { renderer: "svg" });
    api.composition = chart;
    chart.setOption({
      animation: false, color: PALETTE,
      title: { text: TREEMAP_METRICS[metric] + " by operator class", left: "center", textStyle: { fontSize: 13 } },
      legend: { top: 24, type: "scroll" },
      grid: { left: 110, right: 40, top: 64, bottom: 24 },
      tooltip: { trigger: "item", formatter: function (p) {
        return escapeHtml(p.name) + ", " + escapeHtml(p.seriesName) + ": " + exact(p.value) + " (" + human(p.value) + ")";
      } },
      xAxis: { type: "value", axisLabel: { formatter: function (v) { return human(v); } } },
      yAxis: { type: "category", inverse: true, data: DATA.models.map(function (m) { return m.label; }) },
      series: names.map(function (k) {
        return { name: k, type: "bar", stack: "total", emphasis: { focus: "series" },
                 data: DATA.models.map(function (m) { return m.by_class[k] ? m.by_class[k][metric] : 0; }) };
      })
    }, { notMerge: true });
  }

  // --- model tabs ---------------------------------------------------------------------------------------------------

  function drawTabs() {
    var nav = document.getElementById("models");
    if (DATA.models.length < 2) { nav.hidden = true; return; }
    DATA.models.forEach(function (m, i) {
      var b = el("button", { type: "button", "aria-pressed": String(i === state.model), text: m.label });
      b.addEventListener("click", function () { selectModel(i); });
      nav.appendChild(b);
    });
  }

  function selectModel(i) {
    state.model = i;
    openStages();
    state.selected = null;
    Array.prototype.forEach.call(document.querySelectorAll("#models button"), function (b, k) {
      b.setAttribute("aria-pressed", String(k === i));
    });
    drawModel();
  }

  // --- summary ------------------------------------------------------------------------------------------------------

  function drawSummary() {
    var m = model();
    Array.prototype.forEach.call(document.querySelectorAll(".model-label"), function (s) { s.textContent = m.label; });
    var blocks = m.groups.filter(function (g) { return g.kind === "block"; }).length;
    document.getElementById("model-facts").textContent = m.name + (m.config ? " (" + m.config + ")" : "") +
      ": input " + shape(m.input) + ", output " + shape(m.output) + "; " + m.layers.length + " layers in " + blocks +
      " blocks. Counts at batch size 1, exact integers (hover a rounded figure for it).";
    var rows = DATA.metrics.map(function (key) {
      return el("tr", null, el("td", { text: HEADERS[key] }), el("td", { cls: "num", text: exact(m.totals[key]) }),
                el("td", { cls: "num", text: human(m.totals[key]) }), el("td", { cls: "wrap", text: DATA.conventions[key] }));
    });
    fill(document.getElementById("summary-table"), [th("metric"), th("exact", true), th("", true), th("convention")], rows);

    var classes = Object.keys(m.by_class).map(function (k) { return [k, m.by_class[k]]; });
    classes.sort(function (a, b) { return b[1].macs - a[1].macs || (a[0] < b[0] ? -1 : 1); });
    var total = m.totals.macs, totalMem = m.totals.memory_access;
    var classRows = classes.map(function (c) {
      var share = total ? c[1].macs / total : 0;
      return el("tr", null, el("td", { text: c[0] }), countCell(c[1].macs),
                el("td", { cls: "num" }, percent(c[1].macs, total), el("span", { cls: "bar", style: "width:" + Math.round(60 * share) + "px" })),
                countCell(c[1].params), countCell(c[1].memory_access), el("td", { cls: "num", text: percent(c[1].memory_access, totalMem) }));
    });
    fill(document.getElementById("class-table"),
         [th("operator class"), th("MACs", true), th("% of MACs", true), th("params", true), th("memory access", true),
          th("% of memory access", true)], classRows);
  }

  // --- treemap ------------------------------------------------------------------------------------------------------

  function treeData(m, metric) {
    var nodes = {}, roots = [];
    m.groups.forEach(function (g) {
      var node = { name: localName(g.id, g.parent), id: g.id, full: g.id, op: g.op, children: [] };
      nodes[g.id] = node;
      (g.parent ? nodes[g.parent].children : roots).push(node);
    });
    m.layers.forEach(function (l) {
      var v = l[metric];
      if (!v) { return; }
      var leaf = { name: localName(l.name, l.parent), id: l.name, full: l.name, op: l.op, value: v };
      (l.parent ? nodes[l.parent].children : roots).push(leaf);
    });
    function prune(list) {
      return list.filter(function (n) {
        if (!n.children) { return true; }
        n.children = prune(n.children);
        n.value = n.children.reduce(function (s, c) { return s + c.value; }, 0);
        return n.children.length > 0;
      });
    }
    return prune(roots);
  }

  function drawTreemap() {
    var m = model(), metric = state.metric, total = m.totals[metric];
    var chart = api.treemap || echarts.init(document.getElementById("treemap"), null, { renderer: "svg" });
    api.treemap = chart;
    Array.prototype.forEach.call(document.querySelectorAll("#treemap-section button[data-metric]"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-metric") === metric));
    });
    document.getElementById("treemap-note").textContent = TREEMAP_METRICS[metric] + " of " + m.label + ": " +
      exact(total) + " (" + human(total) + "); area of each stage, block and layer in proportion. Click to zoom in.";
    chart.setOption({
      animationDurationUpdate: 300,
      tooltip: {
        formatter: function (info) {
          var d = info.data;
          return "<b>" + escapeHtml(d.full) + "</b> (" + escapeHtml(d.op) + ")<br>" + TREEMAP_METRICS[metric] + ": " +
            exact(info.value) + " (" + human(info.value) + "), " + percent(info.value, total) + " of the model";
        }
      },
      color: PALETTE,
      series: [{
        type: "treemap", name: m.label, data: treeData(m, metric), roam: false, nodeClick: "zoomToNode",
        left: 0, right: 0, top: 0, bottom: 30, leafDepth: null, visibleMin: 300,
        breadcrumb: { show: true, bottom: 0, height: 22, itemStyle: { color: "#eaeef2", textStyle: { color: "#1f2328" } } },
        label: { show: true, formatter: function (p) { return "{name|" + p.name + "}\n{value|" + human(p.value) + "}"; },
                 rich: { name: { fontSize: 11, lineHeight: 15, color: "#fff" }, value: { fontSize: 10, lineHeight: 13, color: "#fff" } } },
        upperLabel: { show: true, height: 18, color: "#fff", fontSize: 11,
                      formatter: function (p) { return p.name + "  " + human(p.value); } },
        levels: [
          { itemStyle: { borderColor: "#57606a", borderWidth: 0, gapWidth: 3 }, upperLabel: { show: false } },
          { itemStyle: { borderColor: "#8c959f", borderWidth: 3, gapWidth: 2 } },
          { colorSaturation: [0.35, 0.6], itemStyle: { borderColorSaturation: 0.6, borderWidth: 2, gapWidth: 1 } },
          { colorSaturation: [0.3, 0.55], itemStyle: { borderColorSaturation: 0.5, borderWidth: 1, gapWidth: 1 } }
        ]
      }]
    }, { notMerge: true });
  }

  function escapeHtml(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  // --- the network graph --------------------------------------------------------------------------------------------

  var CATEGORY_COLORS = {
    conv: "#ddf4ff", depthwise: "#d8f5e3", linear: "#fff1c2", norm: "#f1f3f5", act: "#fbefff", pool: "#ffe7d1",
    merge: "#ffe2e2", reshape: "#eef1f4", attention: "#fde2f3", input: "#ffffff", other: "#eef1f4"
  };
  var CATEGORY_BORDERS = {
    conv: "#0969da", depthwise: "#1a7f37", linear: "#9a6700", norm: "#8c959f", act: "#8250df", pool: "#bc4c00",
    merge: "#cf222e", reshape: "#8c959f", attention: "#bf3989", input: "#1f2328", other: "#8c959f"
  };

  function category(l) {
    var op = l.op;
    if (op === "conv2d" || op === "conv_transpose2d") {
      return l.attrs.groups > 1 && l.attrs.groups === l.input[0] ? "depthwise" : "conv";
    }
    if (op === "linear") { return "linear"; }
    if (/norm$/.test(op)) { return "norm"; }
    if (/pool|^mean$/.test(op)) { return "pool"; }
    if (op === "add" || op === "concat" || op === "mul") { return "merge"; }
    if (/attention|token|embedding/.test(op)) { return "attention"; }
    if (/^(flatten|split|channel_shuffle|dropout|drop_path|upsample|layer_scale)$/.test(op)) { return "reshape"; }
    if (l.class === "elementwise") { return "act"; }
    return "other";
  }

  function layerDetail(l) {  // "3x3 s2 g3" for a conv, "" otherwise
    var a = l.attrs, parts = [];
    if (a.kernel !== undefined) { parts.push(a.kernel + "x" + a.kernel); }
    if (a.stride !== undefined && a.stride !== 1) { parts.push("s" + a.stride); }
    if (a.groups !== undefined && a.groups !== 1) { parts.push("g" + a.groups); }
    return parts.join(" ");
  }

  var measureCtx = null;
  function boxSize(lines, bold) {  // node size that fits its label lines (font as in the style below)
    measureCtx = measureCtx || document.createElement("canvas").getContext("2d");
    var width = 0;
    lines.forEach(function (line, i) {
      measureCtx.font = (i === 0 && bold ? "600 " : "") + "11px system-ui, sans-serif";
      width = Math.max(width, measureCtx.measureText(line).width);
    });
    return { w: Math.ceil(width) + 18, h: 15 * lines.length + 10 };
  }

  function visibleGroup(m, chain) {  // the outermost collapsed group of a chain, or null when all are expanded
    for (var i = 0; i < chain.length; i++) { if (!state.expanded[chain[i]]) { return chain[i]; } }
    return null;
  }

  function graphElements(m) {
    var ix = index(m), nodes = [], edges = [], rep = {};
    var input = ["input", shape(m.input)];
    var size = boxSize(input, true);
    nodes.push({ data: { id: "input", label: input.join("\n"), w: size.w, h: size.h, cat: "input" }, classes: "layer" });
    m.groups.forEach(function (g) {
      var chain = ancestors(m, g.parent);
      if (visibleGroup(m, chain) !== null) { return; }  // inside a collapsed group
      var id = "g:" + g.id;
      var parent = g.parent ? "g:" + g.parent : undefined;
      if (state.expanded[g.id]) {
        nodes.push({ data: { id: id, parent: parent, label: g.id + "  \u00b7  " + g.op + "  \u00b7  " + human(g.macs) + " MACs",
                             group: g.id }, classes: "group expanded " + g.kind });
        return;
      }
      var unit = ix.units[g.id];
      var lines = [g.id, (g.kind === "stage" ? g.op : g.op + (g.args.stride > 1 ? " s" + g.args.stride : "")) +
                   "  \u2192 " + shape(g.output), human(g.macs) + " MACs \u00b7 " + human(g.params) + " params"];
      if (unit) { lines.push("formula " + unit.formula + ": " + human(unit.formula_macs) + (unit.equal ? " = engine" : " \u2260 engine")); }
      size = boxSize(lines, true);
      nodes.push({ data: { id: id, parent: parent, label: lines.join("\n"), w: size.w, h: size.h, group: g.id },
                   classes: "group collapsed " + g.kind });
    });
    m.layers.forEach(function (l) {
      var chain = ancestors(m, l.parent), hidden = visibleGroup(m, chain);
      rep[l.name] = hidden === null ? "l:" + l.name : "g:" + hidden;
      if (hidden !== null) { return; }
      var detail = layerDetail(l);
      var lines = [localName(l.name, l.parent), l.op + (detail ? " " + detail : "") + "  \u2192 " + shape(l.output)];
      if (l.macs || l.params) { lines.push(human(l.macs) + " MACs" + (l.params ? " \u00b7 " + human(l.params) + " params" : "")); }
      var s = boxSize(lines, true);
      nodes.push({ data: { id: "l:" + l.name, parent: l.parent ? "g:" + l.parent : undefined, label: lines.join("\n"),
                           w: s.w, h: s.h, layer: l.name, cat: category(l) }, classes: "layer" });
    });
    var seen = {};
    m.layers.forEach(function (l) {
      var target = rep[l.name];
      l.inputs.forEach(function (name) {
        var source = name === "input" ? "input" : rep[name];
        if (source === target) { return; }
        var kind = target.indexOf("l:") === 0 && (l.op === "add" || l.op === "concat") ? (l.op === "add" ? "residual" : "concat") : "flow";
        var key = source + "->" + target;
        if (seen[key]) {  // several layers joined by one edge: a plain flow wins
          if (kind === "flow") { seen[key].classes = "flow"; }
          return;
        }
        seen[key] = { data: { id: "e" + edges.length, source: source, target: target }, classes: kind };
        edges.push(seen[key]);
      });
    });
    return nodes.concat(edges);
  }

  var GRAPH_STYLE = [
    { selector: "node", style: {
      "shape": "round-rectangle", "label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
      "text-halign": "center", "font-size": 11, "font-family": "system-ui, sans-serif", "color": "#1f2328",
      "border-width": 1, "line-height": 1.3 } },
    { selector: "node[w]", style: { "width": "data(w)", "height": "data(h)" } },
    { selector: "node.layer", style: {
      "background-color": function (n) { return CATEGORY_COLORS[n.data("cat")] || CATEGORY_COLORS.other; },
      "border-color": function (n) { return CATEGORY_BORDERS[n.data("cat")] || CATEGORY_BORDERS.other; } } },
    { selector: "node.group.collapsed", style: {
      "background-color": "#f6f8fa", "border-color": "#0969da", "border-width": 2, "border-style": "double",
      "border-width": 4 } },
    { selector: "node.group.collapsed.stage", style: { "background-color": "#eaeef2" } },
    { selector: "node.group.expanded", style: {
      "shape": "round-rectangle", "background-color": "#f6f8fa", "background-opacity": 0.55, "border-color": "#8c959f",
      "border-style": "dashed", "text-valign": "top", "text-halign": "center", "font-weight": 600, "padding": 12 } },
    { selector: "node.group.expanded.stage", style: { "background-color": "#eef4fb", "border-color": "#54aeff" } },
    { selector: "node:selected", style: { "border-color": "#fb8500", "border-width": 3, "border-style": "solid" } },
    { selector: "edge", style: {
      "width": 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.8,
      "line-color": "#8c959f", "target-arrow-color": "#8c959f" } },
    { selector: "edge.residual", style: { "line-color": "#cf222e", "target-arrow-color": "#cf222e", "line-style": "dashed", "width": 2 } },
    { selector: "edge.concat", style: { "line-color": "#8250df", "target-arrow-color": "#8250df", "line-style": "dotted", "width": 2.5 } }
  ];

  function drawGraph(focus) {
    var m = model();
    var container = document.getElementById("graph");
    if (!api.cy) {
      api.cy = cytoscape({ container: container, style: GRAPH_STYLE, minZoom: 0.05, maxZoom: 3,
                           boxSelectionEnabled: false, autounselectify: false });
      api.cy.on("tap", "node", function (evt) { onTap(evt.target); });
    }
    var cy = api.cy;
    cy.batch(function () {
      cy.elements().remove();
      cy.add(graphElements(m));
    });
    var layout = cy.layout({ name: "dagre", rankDir: "TB", nodeSep: 18, rankSep: 26, edgeSep: 8, fit: false,
                             animate: false });
    layout.run();
    container.setAttribute("data-nodes", String(cy.nodes().length));
    container.setAttribute("data-expanded", Object.keys(state.expanded).filter(function (k) { return state.expanded[k]; }).sort().join(" "));
    var target = focus ? cy.getElementById(focus) : null;
    if (target && target.length) {
      var zoom = Math.max(cy.zoom(), 1);
      cy.zoom(zoom);
      cy.center(target);
      cy.$(":selected").unselect();
      target.select();
    } else {
      viewTop();
    }
  }

  function viewTop() {  // the whole graph if it fits with readable labels, else its top at full size (pan or zoom out)
    var cy = api.cy, box = cy.elements().boundingBox(), width = cy.width(), height = cy.height(), pad = 20;
    var zoom = Math.min((width - 2 * pad) / box.w, (height - 2 * pad) / box.h, 1.2);
    zoom = Math.max(zoom, Math.min(1, (width - 2 * pad) / box.w));
    cy.zoom(zoom);
    cy.pan({ x: (width - box.w * zoom) / 2 - box.x1 * zoom, y: pad - box.y1 * zoom });
  }

  function onTap(node) {
    var m = model(), ix = index(m), group = node.data("group"), layer = node.data("layer");
    if (group !== undefined) {
      state.expanded[group] = !state.expanded[group];
      if (!state.expanded[group]) {  // collapsing a stage collapses the blocks inside it too
        m.groups.forEach(function (g) { if (g.parent === group) { state.expanded[g.id] = false; } });
      }
      showGroup(ix.groups[group]);
      drawGraph("g:" + group);
      return;
    }
    if (layer !== undefined) { showLayer(ix.layers[layer]); selectRow(layer); }
    else { showInput(); }
  }

  function detailTable(pairs) {
    var t = el("table");
    var body = fill(t, [], []);
    pairs.forEach(function (p) {
      body.appendChild(el("tr", null, el("th", { text: p[0] }), el("td", { cls: p[2] ? "num" : "", text: p[1] })));
    });
    return t;
  }

  function metricPairs(x, total) {
    return DATA.metrics.map(function (k) {
      return [HEADERS[k], exact(x[k]) + (k === "macs" && total ? " (" + percent(x[k], total) + ")" : ""), true];
    });
  }

  function showInput() {
    var m = model(), box = document.getElementById("details");
    box.textContent = "";
    box.appendChild(el("h3", { text: "input" }));
    box.appendChild(detailTable([["shape", shape(m.input)], ["model", m.label], ["parameters", m.config || "none"]]));
  }

  function showGroup(g) {
    var m = model(), box = document.getElementById("details"), unit = index(m).units[g.id];
    box.textContent = "";
    box.appendChild(el("h3", { text: g.id }));
    var args = Object.keys(g.args).map(function (k) { return k + "=" + JSON.stringify(g.args[k]); }).join(", ");
    box.appendChild(detailTable([["kind", g.kind + (g.kind === "stage" ? " (" + g.blocks + " blocks)" : "")],
                                 ["op", g.op], ["arguments", args || "-"], ["input", shape(g.input)],
                                 ["output", shape(g.output)], ["layers", String(g.layers)]].concat(metricPairs(g, m.totals.macs))));
    if (unit) { box.appendChild(unitDetail(unit)); }
  }

  function unitDetail(u) {
    var div = el("div");
    div.appendChild(el("h3", { text: "closed form: " + u.formula }));
    div.appendChild(el("p", { text: u.formula_title }));
    div.appendChild(el("div", { cls: "formula", text: u.formula_text }));
    div.appendChild(el("div", { cls: "formula", text: "= " + u.substituted }));
    div.appendChild(detailTable([["symbols", Object.keys(u.symbols).map(function (s) { return s + "=" + u.symbols[s]; }).join(" ")],
                                 ["formula MACs", exact(u.formula_macs), true], ["engine MACs", exact(u.engine_macs), true],
                                 ["difference", exact(u.difference), true]]));
    u.notes.concat(u.reasons).forEach(function (r) { div.appendChild(el("p", { cls: "note", text: r })); });
    if (!u.reasons.length) { div.appendChild(el("p", { cls: "note", text: "formula and engine agree exactly." })); }
    return div;
  }

  function showLayer(l) {
    var m = model(), box = document.getElementById("details");
    box.textContent = "";
    box.appendChild(el("h3", { text: l.name }));
    var attrs = Object.keys(l.attrs).filter(function (k) { return l.attrs[k] !== null; })
      .map(function (k) { return k + "=" + JSON.stringify(l.attrs[k]); }).join(", ");
    var pairs = [["op", l.op + " (" + l.class + ")"], ["attributes", attrs || "-"], ["inputs", l.inputs.join(", ")],
                 ["input shape", shape(l.input)], ["output shape", shape(l.output)]];
    if (l.term) { pairs.push(["formula term", l.term]); }
    box.appendChild(detailTable(pairs.concat(metricPairs(l, m.totals.macs))));
    var unit = index(m).units[l.parent];
    if (unit) { box.appendChild(unitDetail(unit)); }
  }

  function reveal(name) {  // expand what hides layer `name`, draw, select it
    var m = model(), l = index(m).layers[name];
    ancestors(m, l.parent).forEach(function (g) { state.expanded[g] = true; });
    drawGraph("l:" + name);
    showLayer(l);
    document.getElementById("graph-section").scrollIntoView({ block: "start" });
  }

  // --- layer table --------------------------------------------------------------------------------------------------

  var LAYER_COLUMNS = [
    { key: "index", head: "#", num: true }, { key: "name", head: "layer" }, { key: "op", head: "op" },
    { key: "output", head: "output", shape: true }, { key: "macs", head: "MACs", num: true, count: true },
    { key: "share", head: "% of MACs", num: true }, { key: "flops", head: "FLOPs", num: true, count: true },
    { key: "params", head: "params", num: true, count: true },
    { key: "fvcore_flops", head: "fvcore flops", num: true, count: true },
    { key: "activations", head: "activations", num: true, count: true },
    { key: "memory_access", head: "memory access", num: true, count: true },
    { key: "term", head: "formula term (unit)" }
  ];

  function sortValue(l, key) {
    if (key === "share") { return l.macs; }
    if (key === "output") { return l.output.reduce(function (a, b) { return a * b; }, 1); }
    if (key === "term") { return l.term || ""; }
    return l[key];
  }

  function drawLayerTable() {
    var m = model(), total = m.totals.macs, table = document.getElementById("layer-table");
    var head = LAYER_COLUMNS.map(function (c) {
      var h = th(c.head, c.num, c.count ? HEADERS[c.key] + ": " + DATA.conventions[c.key] : "");
      h.setAttribute("data-key", c.key);
      h.setAttribute("aria-sort", state.sort.key === c.key ? (state.sort.desc ? "descending" : "ascending") : "none");
      h.addEventListener("click", function () {
        if (state.sort.key === c.key) { state.sort.desc = !state.sort.desc; }
        else { state.sort = { key: c.key, desc: !!c.num && c.key !== "index" }; }
        drawLayerTable();
      });
      return h;
    });
    var needle = state.filter.toLowerCase();
    var rows = m.layers.filter(function (l) {
      if (state.hideZero && !l.macs) { return false; }
      return !needle || (l.name + " " + l.op + " " + l["class"]).toLowerCase().indexOf(needle) >= 0;
    });
    var key = state.sort.key, sign = state.sort.desc ? -1 : 1;
    rows = rows.slice().sort(function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      return (x < y ? -1 : x > y ? 1 : 0) * sign || a.index - b.index;
    });
    var trs = rows.map(function (l) {
      var tr = el("tr", { "data-layer": l.name }, el("td", { cls: "num", text: String(l.index) }),
                  el("td", { cls: "mono", text: l.name }), el("td", { text: l.op }), el("td", { cls: "num", text: shape(l.output) }),
                  countCell(l.macs), el("td", { cls: "num", text: percent(l.macs, total) }), countCell(l.flops), countCell(l.params),
                  countCell(l.fvcore_flops), countCell(l.activations), countCell(l.memory_access),
                  el("td", { cls: "mono", text: l.term || "" }));
      if (l.name === state.selected) { tr.className = "selected"; }
      tr.addEventListener("click", function () { state.selected = l.name; markSelected(); reveal(l.name); });
      return tr;
    });
    var foot = el("tr", { cls: "total" }, el("td"), el("td", { text: "total (" + m.layers.length + " layers)" }), el("td"), el("td"),
                  countCell(m.totals.macs), el("td", { cls: "num", text: total ? "100.0%" : "" }), countCell(m.totals.flops),
                  countCell(m.totals.params),
                  countCell(m.totals.fvcore_flops), countCell(m.totals.activations), countCell(m.totals.memory_access), el("td"));
    fill(table, head, trs, foot);
    document.getElementById("layer-count").textContent = rows.length + " of " + m.layers.length + " layers shown";
  }

  function markSelected() {
    Array.prototype.forEach.call(document.querySelectorAll("#layer-table tbody tr"), function (tr) {
      tr.className = tr.getAttribute("data-layer") === state.selected ? "selected" : "";
    });
  }

  function selectRow(name) {
    state.selected = name;
    markSelected();
  }

  // --- closed forms (shufflecalc explain) ---------------------------------------------------------------------------

  function drawUnits() {
    var m = model(), note = document.getElementById("units-note"), table = document.getElementById("units-table");
    table.textContent = "";
    if (!m.explain) {
      note.textContent = "No block of " + m.label + " is one that a formula covers (dwsep, bottleneck and ShuffleNet units, " +
        "ResNet / ResNeXt bottlenecks, inverted residuals, ShuffleNetV2 units).";
      return;
    }
    note.textContent = "Each unit a closed-form formula covers: the formula, its symbols, its value beside the " +
      "engine's exact sum over the unit's layers, and why they differ (as shufflecalc explain " + m.name + " prints " +
      "them; hover a reason for it in full, or click the unit in the graph). difference = " + m.explain.difference + ".";
    var rows = m.explain.units.map(function (u) {
      return el("tr", null, el("td", { cls: "mono", text: u.name }), el("td", { cls: "mono", text: u.op + " s" + u.stride }),
                el("td", { cls: "mono", text: u.formula, title: u.formula_title }), el("td", { cls: "mono", text: u.formula_text }),
                el("td", { cls: "mono", text: Object.keys(u.symbols).map(function (s) { return s + "=" + u.symbols[s]; }).join(" ") }),
                el("td", { cls: "num", text: exact(u.formula_macs) }), el("td", { cls: "num", text: exact(u.engine_macs) }),
                el("td", { cls: "num", text: exact(u.difference) }),
                el("td", { cls: "wrap", title: u.reasons.join("\n"), text: u.why.join("; ") || "formula and engine agree exactly" }));
    });
    var t = m.explain.total;
    var foot = el("tr", { cls: "total" }, el("td", { text: "total" }), el("td"), el("td"), el("td"), el("td"),
                  el("td", { cls: "num", text: exact(t.formula_macs) }), el("td", { cls: "num", text: exact(t.engine_macs) }),
                  el("td", { cls: "num", text: exact(t.difference) }), el("td"));
    fill(table, [th("unit"), th("block"), th("formula"), th("closed form"), th("symbols"), th("formula MACs", true),
                 th("engine MACs", true), th("difference", true), th("why they differ")], rows, foot);
  }

  // --- wiring -------------------------------------------------------------------------------------------------------

  function drawModel() {
    drawSummary();
    drawTreemap();
    drawGraph(null);
    document.getElementById("details").textContent = "Click a node for its shapes and counts; a unit's closed form shows here too.";
    drawLayerTable();
    drawUnits();
  }

  Array.prototype.forEach.call(document.querySelectorAll("#treemap-section button[data-metric]"), function (b) {
    b.addEventListener("click", function () { state.metric = b.getAttribute("data-metric"); drawTreemap(); });
  });
  function setAll(expanded) {
    model().groups.forEach(function (g) { state.expanded[g.id] = expanded; });
    drawGraph(null);
  }
  document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
  document.getElementById("fit").addEventListener("click", function () { api.cy.fit(undefined, 20); });
  document.getElementById("layer-filter").addEventListener("input", function (e) { state.filter = e.target.value; drawLayerTable(); });
  document.getElementById("hide-zero").addEventListener("change", function (e) { state.hideZero = e.target.checked; drawLayerTable(); });
  window.addEventListener("resize", function () {
    if (api.treemap) { api.treemap.resize(); }
    if (api.compare) { api.compare.resize(); }
    if (api.composition) { api.composition.resize(); }
  });

  function openStages() {  // stages open, blocks closed: the network at a glance, every block one click away
    state.expanded = {};
    model().groups.forEach(function (g) { if (g.kind === "stage") { state.expanded[g.id] = true; } });
  }

  function start() {
    DATA.models.forEach(function (m) { index(m); });
    openStages();
    drawTabs();
    drawComparison();
    drawModel();
    document.body.setAttribute("data-ready", "true");
  }

  start();
})();
