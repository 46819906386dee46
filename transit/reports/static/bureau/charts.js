/* Charts drawn as SVG by hand: an indicator's gauge against its two targets, and the monthly
 * trend with the target lines.  No library. */
(function () {
  "use strict";
  var B = window.Bureau;
  var el = B.el, svg = B.svg, title = B.title, pct = B.pct, num = B.num;
  var FOUR = B.FOUR, FIVE = B.FIVE;

  function gauge(ind) {
    var w = 300, h = 48, x0 = 4, x1 = w - 4, bar = 14, y = 17;
    var sx = function (v) { return x0 + (x1 - x0) * Math.max(0, Math.min(1, v)); };
    var g = svg("svg", { "class": "gauge", viewBox: "0 0 " + w + " " + h, role: "img",
                        "aria-label": ind.name_zh + " " + pct(ind.value) });
    g.appendChild(svg("rect", { x: x0, y: y, width: x1 - x0, height: bar, rx: 3, fill: "#e7ecf1" }));
    if (ind.value !== null) {
      var color = ind.stars >= 5 ? FIVE : ind.stars >= 4 ? FOUR : "#c62828";
      g.appendChild(svg("rect", { x: x0, y: y, width: sx(ind.value) - x0, height: bar, rx: 3, fill: color }));
    }
    // 4★ marked above the bar, 5★ below it: close targets (10% and 20%) never overprint.
    [[ind.four_star, FOUR, "4★", y - 5, y - 7], [ind.five_star, FIVE, "5★", y + bar + 4, y + bar + 14]]
      .forEach(function (t) {
        var x = sx(t[0].share);
        var anchor = x > w - 30 ? "end" : x < 30 ? "start" : "middle";
        g.appendChild(title(svg("line", { x1: x, x2: x, y1: t[3], y2: t[3] < y ? y + bar : y, stroke: t[1],
                                         "stroke-width": 2 }), t[2] + " " + t[0].label));
        g.appendChild(svg("text", { x: x, y: t[4], "font-size": 10, fill: t[1], "text-anchor": anchor },
                          t[2] + " " + (t[0].strict ? ">" : "≥") + pct(t[0].share, 0)));
      });
    return g;
  }

  function lineChart(series, months, complete) {
    var w = 320, h = 150, left = 34, right = 16, top = 10, bottom = 22;
    var n = months.length;
    var sx = function (i) { return left + (n <= 1 ? (w - left - right) / 2 : i * (w - left - right) / (n - 1)); };
    var sy = function (v) { return top + (1 - v) * (h - top - bottom); };
    var g = svg("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": series.name_zh });
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      g.appendChild(svg("line", { x1: left, x2: w - right, y1: sy(v), y2: sy(v), stroke: "#e3e8ee" }));
      g.appendChild(svg("text", { x: left - 4, y: sy(v) + 3, "font-size": 9, fill: "#5c6b7a", "text-anchor": "end" },
                        (v * 100) + "%"));
    });
    [[series.four_star, FOUR, "4★"], [series.five_star, FIVE, "5★"]].forEach(function (t) {
      g.appendChild(title(svg("line", { x1: left, x2: w - right, y1: sy(t[0].share), y2: sy(t[0].share), stroke: t[1],
                                        "stroke-dasharray": "5 3", "stroke-width": 1.2 }), t[2] + " " + t[0].label));
    });
    var step = Math.max(1, Math.ceil(n / 6));
    months.forEach(function (m, i) {
      if ((n - 1 - i) % step === 0) {
        var label = m.slice(5) === "01" || i === 0 ? m.slice(0, 4) + "年" + Number(m.slice(5)) + "月"
                                                    : Number(m.slice(5)) + "月";
        g.appendChild(svg("text", { x: sx(i), y: h - 6, "font-size": 9, fill: "#5c6b7a", "text-anchor": "middle" },
                          label));
      }
    });
    var path = "";
    var pen = false;
    series.values.forEach(function (v, i) {
      if (v === null || v === undefined) { pen = false; return; }
      path += (pen ? " L " : " M ") + sx(i).toFixed(1) + " " + sy(v).toFixed(1);
      pen = true;
    });
    if (path) { g.appendChild(svg("path", { d: path, fill: "none", stroke: "#1565c0", "stroke-width": 2 })); }
    series.values.forEach(function (v, i) {
      if (v === null || v === undefined) { return; }
      g.appendChild(title(svg("circle", { cx: sx(i), cy: sy(v), r: 3.2, fill: complete[i] ? "#1565c0" : "#fff",
                                         stroke: "#1565c0", "stroke-width": 1.5 }),
                          months[i] + ": " + pct(v) + (complete[i] ? "" : " (本月未结束 month not over)")));
    });
    if (!path) {
      g.appendChild(svg("text", { x: w / 2, y: h / 2, "font-size": 11, fill: "#9aa5b1", "text-anchor": "middle" },
                        "暂无数据 no data"));
    }
    return g;
  }

  B.gauge = gauge;
  B.lineChart = lineChart;
}());
