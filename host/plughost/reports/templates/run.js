var priceCharts = [];
REPORT.charts.forEach(function (c, n) {
  var el = document.getElementById("price-chart-" + n);
  var chart = makeChart(el);
  var candles = chart.addSeries(LC.CandlestickSeries, {upColor: "#16a34a", downColor: "#dc2626", borderVisible: false,
    wickUpColor: "#16a34a", wickDownColor: "#dc2626"});
  var b = c.bars, data = new Array(b.t.length);
  for (var i = 0; i < b.t.length; i++) data[i] = {time: b.t[i], open: b.o[i], high: b.h[i], low: b.l[i], close: b.c[i]};
  candles.setData(data);
  var lines = [];
  c.indicators.forEach(function (ind, k) {
    var s = chart.addSeries(LC.LineSeries, {color: PALETTE[k % PALETTE.length], lineWidth: 1, title: ind.name,
      priceLineVisible: false, lastValueVisible: false}, ind.pane);
    s.setData(points(ind.t, ind.v));
    var lastValue = null;
    for (var j = ind.v.length - 1; j >= 0 && lastValue === null; j--) lastValue = ind.v[j];
    lines.push([ind.name, s, PALETTE[k % PALETTE.length], lastValue]);
  });
  if (chart.panes().length > 1) chart.panes()[1].setHeight(110);
  if (c.markers.length) LC.createSeriesMarkers(candles, c.markers);
  chart.timeScale().fitContent();
  var legend = document.getElementById("price-legend-" + n);
  function show(param) {
    var d = param && param.seriesData ? param.seriesData.get(candles) : null;
    if (!d) d = data[data.length - 1];
    if (!d) return;
    var html = "<span>" + fmtTime(d.time) + "</span><span>O " + fmtNum(d.open) + "</span><span>H " + fmtNum(d.high) +
      "</span><span>L " + fmtNum(d.low) + "</span><span>C " + fmtNum(d.close) + "</span>";
    lines.forEach(function (l) {
      var v = param && param.seriesData ? param.seriesData.get(l[1]) : {value: l[3]};
      html += '<span><i style="background:' + l[2] + '"></i>' + l[0].replace(/[<>&]/g, "") + " " +
        (v && v.value !== undefined && v.value !== null ? fmtNum(v.value) : "-") + "</span>";
    });
    legend.innerHTML = html;
  }
  chart.subscribeCrosshairMove(show);
  show(null);
  priceCharts.push({symbol: c.symbol, chart: chart, el: el});
});

if (REPORT.equity && document.getElementById("equity-chart")) {
  var e = REPORT.equity;
  var echart = makeChart(document.getElementById("equity-chart"));
  var eq = echart.addSeries(LC.LineSeries, {color: "#2563eb", lineWidth: 2, title: "equity", priceLineVisible: false});
  eq.setData(points(e.t, e.equity));
  var bh = null;
  if (e.bh) {
    bh = echart.addSeries(LC.LineSeries, {color: "#9ca3af", lineWidth: 1, lineStyle: LC.LineStyle.Dashed,
      title: "buy & hold", priceLineVisible: false});
    bh.setData(points(e.t, e.bh));
  }
  var dd = echart.addSeries(LC.BaselineSeries, {baseValue: {type: "price", price: 0}, title: "drawdown %",
    topLineColor: "#dc2626", bottomLineColor: "#dc2626", bottomFillColor1: "rgba(220,38,38,0.35)",
    bottomFillColor2: "rgba(220,38,38,0.05)", topFillColor1: "rgba(0,0,0,0)", topFillColor2: "rgba(0,0,0,0)",
    priceLineVisible: false, lineWidth: 1}, 1);
  dd.setData(points(e.t, e.dd));
  echart.panes()[1].setHeight(130);
  echart.timeScale().fitContent();
  var elegend = document.getElementById("equity-legend");
  var showEq = function (param) {
    var pick = function (s) { var d = param && param.seriesData ? param.seriesData.get(s) : null; return d ? d.value : null; };
    var last = e.t.length - 1;
    var t = param && param.time !== undefined ? param.time : e.t[last];
    var v = param && param.seriesData ? pick(eq) : e.equity[last];
    var html = "<span>" + (t !== undefined ? fmtTime(t) : "") + '</span><span><i style="background:#2563eb"></i>equity ' + fmtNum(v, 2) + "</span>";
    if (bh) html += '<span><i style="background:#9ca3af"></i>buy &amp; hold ' + fmtNum(param && param.seriesData ? pick(bh) : e.bh[last], 2) + "</span>";
    html += '<span><i style="background:#dc2626"></i>drawdown ' + fmtNum(param && param.seriesData ? pick(dd) : e.dd[last], 2) + " %</span>";
    elegend.innerHTML = html;
  };
  echart.subscribeCrosshairMove(showEq);
  showEq(null);
}

// Double-click a trade: show it on its symbol's price chart, with some room around it.
document.querySelectorAll("#trades tbody tr").forEach(function (tr) {
  tr.addEventListener("dblclick", function () {
    var pc = priceCharts.filter(function (p) { return !tr.dataset.symbol || p.symbol === tr.dataset.symbol; })[0];
    if (!pc || !tr.dataset.entry) return;
    var from = Number(tr.dataset.entry) / 1000, to = Number(tr.dataset.exit || tr.dataset.entry) / 1000;
    var pad = Math.max(60, (to - from) * 2);
    pc.chart.timeScale().setVisibleRange({from: from - pad, to: to + pad});
    pc.el.scrollIntoView({behavior: "smooth", block: "center"});
  });
});

// Zooming or panning one chart moves the others to the same time range.
(function () {
  var all = priceCharts.map(function (p) { return p.chart; });
  if (typeof echart !== "undefined") all.push(echart);
  if (all.length < 2) return;
  var syncing = false;
  all.forEach(function (source) {
    source.timeScale().subscribeVisibleTimeRangeChange(function (range) {
      if (syncing || !range) return;
      syncing = true;
      try {
        all.forEach(function (other) { if (other !== source) other.timeScale().setVisibleRange(range); });
      } finally { syncing = false; }
    });
  });
})();
