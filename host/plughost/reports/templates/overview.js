var RUNS = {};
REPORT.runs.forEach(function (r) { RUNS[r.id] = r; });
var LOWER = {};
REPORT.lower_is_better.forEach(function (m) { LOWER[m] = true; });
function metricOf(run, m) { var v = run && run.metrics ? run.metrics[m] : null; return typeof v === "number" && isFinite(v) ? v : null; }

// Rank: best first by the chosen metric; the rank column says the position.
function rank(m) {
  var table = document.getElementById("runs"), body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = metricOf(RUNS[a.dataset.run], m), y = metricOf(RUNS[b.dataset.run], m);
    if (x === null || y === null) return (x === null) - (y === null);
    return LOWER[m] ? x - y : y - x;
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.classList.remove("sorted-asc", "sorted-desc"); });
  rows.forEach(function (r, i) {
    body.appendChild(r);
    r.querySelector("td.rank").textContent = metricOf(RUNS[r.dataset.run], m) === null ? "" : String(i + 1);
    r.querySelector("td.rank").setAttribute("data-v", metricOf(RUNS[r.dataset.run], m) === null ? "" : String(i + 1));
  });
}
var rankSelect = document.getElementById("rank-metric");
if (rankSelect) { rankSelect.addEventListener("change", function () { rank(rankSelect.value); }); if (rankSelect.value) rank(rankSelect.value); }

// Heatmap of a metric over two parameters: one cell per value pair, the mean of its runs.
function sortValues(vals) {
  var nums = vals.every(function (v) { return typeof v === "number"; });
  return vals.sort(function (a, b) { return nums ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0; });
}
function heatmap() {
  var table = document.getElementById("heatmap");
  if (!table) return;
  var m = document.getElementById("heat-metric").value, py = document.getElementById("heat-y").value,
    px = document.getElementById("heat-x").value;
  var xs = [], ys = [], cells = {}, keyOf = function (v) { return JSON.stringify(v); };
  REPORT.runs.forEach(function (r) {
    if (!(px in r.params) || !(py in r.params)) return;
    var x = r.params[px], y = r.params[py];
    if (xs.map(keyOf).indexOf(keyOf(x)) < 0) xs.push(x);
    if (ys.map(keyOf).indexOf(keyOf(y)) < 0) ys.push(y);
    var k = keyOf(y) + "|" + keyOf(x);
    cells[k] = cells[k] || {sum: 0, n: 0, runs: []};
    cells[k].runs.push(r);
    var v = metricOf(r, m);
    if (v !== null) { cells[k].sum += v; cells[k].n += 1; }
  });
  sortValues(xs); sortValues(ys);
  var values = Object.keys(cells).filter(function (k) { return cells[k].n; }).map(function (k) { return cells[k].sum / cells[k].n; });
  var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
  while (table.firstChild) table.removeChild(table.firstChild);
  var head = table.createTHead().insertRow();
  var corner = document.createElement("th"); corner.textContent = py + " \u2193  " + px + " \u2192"; head.appendChild(corner);
  xs.forEach(function (x) { var th = document.createElement("th"); th.textContent = String(x); head.appendChild(th); });
  var body = table.createTBody();
  ys.forEach(function (y) {
    var tr = body.insertRow();
    var th = document.createElement("th"); th.textContent = String(y); tr.appendChild(th);
    xs.forEach(function (x) {
      var td = tr.insertCell(), c = cells[keyOf(y) + "|" + keyOf(x)];
      td.className = "heat-cell";
      if (!c || !c.n) { td.textContent = c ? "n/a" : ""; td.style.background = "#f9fafb"; if (c) td.title = c.runs.map(function (r) { return r.id + " (" + r.status + ")"; }).join("\n"); return; }
      var v = c.sum / c.n, f = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      if (LOWER[m]) f = 1 - f;
      td.style.background = "hsl(" + Math.round(f * 120) + ", 70%, " + (82 - Math.round(Math.abs(f - 0.5) * 30)) + "%)";
      td.title = c.runs.map(function (r) { return r.id + ": " + fmtNum(metricOf(r, m)); }).join("\n");
      td.setAttribute("data-v", String(v));
      if (c.runs.length === 1 && c.runs[0].href) {
        var a = document.createElement("a"); a.href = c.runs[0].href; a.textContent = fmtNum(v, 3); td.appendChild(a);
      } else td.textContent = fmtNum(v, 3) + (c.runs.length > 1 ? " (" + c.n + ")" : "");
    });
  });
}
["heat-metric", "heat-x", "heat-y"].forEach(function (id) {
  var el = document.getElementById(id); if (el) el.addEventListener("change", heatmap);
});
heatmap();

if (REPORT.best.length && document.getElementById("best-chart")) {
  var bchart = makeChart(document.getElementById("best-chart"));
  REPORT.best.forEach(function (b, i) {
    var s = bchart.addSeries(LC.LineSeries, {color: PALETTE[i % 5], lineWidth: 2, title: b.id, priceLineVisible: false, lastValueVisible: false});
    s.setData(points(b.t, b.v));
  });
  bchart.timeScale().fitContent();
}
