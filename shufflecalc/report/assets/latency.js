/* shufflecalc report page, measured latency (`shufflecalc report --latency`): inlined after report.js only when the
 * page's data carries a measurement (DATA.latency). Draws each model's measured latency into the summary, with the
 * conditions it was measured under, and, for several models, compare's latency rows into the comparison table with
 * each model's ratio to the first and compare's "N x fewer MACs, M x faster" line. */
(function () {
  "use strict";

  var api = window.shufflecalcReport, DATA = api.data, L = DATA.latency;
  if (!L) { return; }

  function ms(x) {  // report/latency.py's ms: 4 significant digits, never in exponent form
    if (x === null || x === undefined) { return ""; }
    if (x <= 0) { return "0"; }
    return x.toFixed(Math.max(0, 3 - Math.floor(Math.log10(x))));
  }
  function pct(x) { return x === null || x === undefined ? "" : (100 * x).toFixed(1) + "%"; }
  function ratio(r) { return r === null || r === undefined ? "" : r.toFixed(3) + "\u00d7"; }
  function rate(x) { return x.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "cls") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    for (var i = 2; i < arguments.length; i++) { if (arguments[i]) { node.appendChild(arguments[i]); } }
    return node;
  }
  function th(text, num, title) { return el("th", { cls: num ? "num" : "", title: title || "", text: text }); }
  function td(text, num, title) { return el("td", { cls: num ? "num" : "", title: title || "", text: text }); }
  function notes(lines) {
    var box = el("div");
    lines.forEach(function (line) { box.appendChild(el("p", { cls: "note", text: line })); });
    return box;
  }

  // --- the summary: the selected model's measured latency -----------------------------------------------------------

  var formats = L.environment.memory_formats.length > 1;
  var box = el("div", { id: "latency" });
  document.getElementById("summary").appendChild(box);

  function drawSummaryLatency() {
    var m = DATA.models[api.state.model], C = L.conventions;
    box.textContent = "";
    box.appendChild(el("h3", { text: "Measured latency: " + m.label }));
    var head = [th("batch", true)];
    if (formats) { head.push(th("format")); }
    head.push(th("mode"), th("median ms", true, C.median_ms), th("p25\u2013p75 ms", true, C.percentiles),
              th("IQR/median", true, C.iqr_over_median), th("p90 ms", true, C.percentiles), th("min ms", true),
              th("samples", true), th("images/s", true, C.throughput_ips), th("GFLOP/s", true, C.achieved_gflops));
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(h); });
    var tbody = el("tbody");
    m.latency.forEach(function (r) {
      var row = el("tr", { "data-batch": String(r.batch) }, td(String(r.batch), true));
      if (formats) { row.appendChild(td(r.memory_format)); }
      [td(r.mode), td(ms(r.median_ms), true, String(r.median_ms)), td(ms(r.p25_ms) + "\u2013" + ms(r.p75_ms), true),
       td(pct(r.iqr_over_median), true), td(ms(r.p90_ms), true), td(ms(r.min_ms), true), td(String(r.samples), true),
       td(rate(r.throughput_ips), true), td(rate(r.achieved_gflops), true)].forEach(function (c) { row.appendChild(c); });
      tbody.appendChild(row);
    });
    box.appendChild(el("div", { cls: "table-wrap" }, el("table", { id: "latency-table" }, el("thead", null, tr), tbody)));
    var own = L.warnings.filter(function (w) {  // this model's, and the machine's (a busy machine)
      return w.indexOf(m.label + " batch ") === 0 || !DATA.models.some(function (x) { return w.indexOf(x.label + " batch ") === 0; });
    });
    box.appendChild(notes(L.notes.concat(own.map(function (w) { return "warning: " + w; }))));
  }

  // --- the comparison: compare --latency's rows ---------------------------------------------------------------------

  function drawComparisonLatency() {
    if (!L.comparison) { return; }
    var tbody = document.querySelector("#compare-table tbody"), lines = [];
    L.comparison.forEach(function (c) {
      var row = el("tr", { cls: "latency", "data-batch": String(c.batch) },
                   td("median latency, batch " + c.batch + " (ms)", false, L.conventions.median_ms));
      var ips = el("tr", { cls: "latency" }, td("throughput, batch " + c.batch + " (images/s)", false, L.conventions.throughput_ips));
      c.median_ms.forEach(function (v, i) {
        row.appendChild(td(ms(v), true, String(v)));
        ips.appendChild(td(rate(c.throughput_ips[i]), true));
        if (i) {
          row.appendChild(el("td", { cls: "num ratio", text: ratio(c.ratios[i]) }));
          ips.appendChild(el("td", { cls: "num ratio", text: ratio(c.throughput_ips[i] / c.throughput_ips[0]) }));
          lines.push(c.versus[i]);
        }
      });
      tbody.appendChild(row);
      tbody.appendChild(ips);
    });
    var wrap = document.getElementById("compare-table").parentNode;
    var box = notes(lines.concat(["measured: " + L.notes[0].replace(/^environment: /, "")]));
    box.id = "compare-latency";
    wrap.appendChild(box);
  }

  drawComparisonLatency();
  drawSummaryLatency();
  Array.prototype.forEach.call(document.querySelectorAll("#models button"), function (b) {
    b.addEventListener("click", drawSummaryLatency);  // after report.js's own listener has set the model
  });
  api.drawLatency = drawSummaryLatency;
})();
