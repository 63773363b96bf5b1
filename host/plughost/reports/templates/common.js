"use strict";
var REPORT = JSON.parse(document.getElementById("report-data").textContent);
var LC = window.LightweightCharts;
var PALETTE = ["#2563eb", "#ea580c", "#9333ea", "#0891b2", "#4d7c0f", "#db2777", "#a16207"];

// Click a header to sort by it (numbers by their data-v value, empty cells last); click again to reverse.
function cellKey(td) {
  var v = td.getAttribute("data-v");
  if (v === null) v = td.textContent.trim();
  if (v === "") return null;
  var n = Number(v);
  return isFinite(n) ? n : v.toLowerCase();
}
function sortTable(table, col, asc) {
  var ths = table.tHead.rows[0].cells;
  for (var i = 0; i < ths.length; i++) ths[i].classList.remove("sorted-asc", "sorted-desc");
  ths[col].classList.add(asc ? "sorted-asc" : "sorted-desc");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
    if (x === null || y === null) return (x === null) - (y === null);
    if (typeof x !== typeof y) { x = String(x); y = String(y); }
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
  });
  rows.forEach(function (r) { body.appendChild(r); });
}
document.querySelectorAll("table.sortable").forEach(function (table) {
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener("click", function () { sortTable(table, col, !th.classList.contains("sorted-asc")); });
  });
});

function makeChart(el, extra) {
  var opts = {
    autoSize: true,
    layout: {attributionLogo: false, background: {color: "#ffffff"}, textColor: "#374151", fontSize: 11},
    grid: {vertLines: {color: "#f3f4f6"}, horzLines: {color: "#f3f4f6"}},
    rightPriceScale: {borderColor: "#e5e7eb"},
    timeScale: {borderColor: "#e5e7eb", timeVisible: true, secondsVisible: false},
    crosshair: {mode: LC.CrosshairMode.Normal}
  };
  for (var k in (extra || {})) opts[k] = extra[k];
  return LC.createChart(el, opts);
}
function points(t, v) {  // null values become gaps (whitespace points)
  var out = new Array(t.length);
  for (var i = 0; i < t.length; i++) out[i] = v[i] === null ? {time: t[i]} : {time: t[i], value: v[i]};
  return out;
}
function fmtNum(x, digits) { return x === null || x === undefined ? "-" : Number(x).toLocaleString("en-US", {maximumFractionDigits: digits === undefined ? 4 : digits}); }
function fmtTime(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19); }
