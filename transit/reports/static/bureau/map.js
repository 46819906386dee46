/* The coverage map: stops, line shapes and the urban boundary drawn as SVG from coordinates (an
 * equirectangular projection at the district's latitude) — no tiles, nothing fetched.  Wheel to
 * zoom, drag to pan; stop circles keep their size on screen. */
(function () {
  "use strict";
  var B = window.Bureau;
  var el = B.el, svg = B.svg, title = B.title, pct = B.pct, num = B.num;
  var STATES = B.STATES, STATE_COLOR = B.STATE_COLOR;

  function mapSection(map) {
    if (!map) { return null; }
    var box = el("div", { className: "mapbox" });
    var legend = el("div", { className: "legend" }, STATES.map(function (s) {
      var sw = el("span", { className: "swatch" });
      sw.style.background = s[1];
      return el("span", {}, sw, s[2] + " " + s[3] + " (" + num(map.counts[s[0]]) + ")");
    }));
    box.appendChild(legend);
    if (!map.stops.length) {
      box.appendChild(el("p", { className: "loading", text: "没有站点数据 no stops (no GTFS feed loaded)" }));
      return el("section", {}, el("h2", {}, "城区站点电子站牌覆盖", el("span", { className: "en", text: "Board coverage map" })), box);
    }
    var lat0 = (map.bbox[1] + map.bbox[3]) / 2;
    var kx = Math.cos(lat0 * Math.PI / 180);
    var px = function (lon) { return (lon - map.bbox[0]) * kx * 10000; };
    var py = function (lat) { return (map.bbox[3] - lat) * 10000; };
    var w = Math.max(px(map.bbox[2]), 1), h = Math.max(py(map.bbox[1]), 1);
    var pad = Math.max(w, h) * 0.04;
    var view = { x: -pad, y: -pad, w: w + 2 * pad, h: h + 2 * pad };
    var base = { w: view.w };
    var s = svg("svg", { viewBox: [view.x, view.y, view.w, view.h].join(" "), role: "img",
                        "aria-label": "城区站点电子站牌覆盖地图 board coverage map", preserveAspectRatio: "xMidYMid meet" });
    var unit = Math.max(view.w, view.h) / 560;  // about one screen pixel at the start
    if (map.boundary) {
      map.boundary.coordinates.forEach(function (polygon) {
        var d = polygon.map(function (ring) {
          return "M " + ring.map(function (p) { return px(p[0]).toFixed(1) + " " + py(p[1]).toFixed(1); }).join(" L ") + " Z";
        }).join(" ");
        s.appendChild(title(svg("path", { d: d, fill: "#dbe9f6", "fill-opacity": 0.6, stroke: "#6d9bc3",
                                          "stroke-width": 1.5, "vector-effect": "non-scaling-stroke",
                                          "fill-rule": "evenodd" }), "城区范围 urban boundary"));
      });
    }
    map.shapes.forEach(function (shape) {
      if (shape.points.length < 2) { return; }
      var d = "M " + shape.points.map(function (p) { return px(p[0]).toFixed(1) + " " + py(p[1]).toFixed(1); }).join(" L ");
      s.appendChild(title(svg("path", { d: d, fill: "none", stroke: shape.color || "#7b8794", "stroke-opacity": 0.55,
                                        "stroke-width": 1.6, "vector-effect": "non-scaling-stroke" }), shape.name));
    });
    var circles = [];
    var order = { not_urban: 0, no_board: 1, board_offline: 2, covered: 3 };
    map.stops.slice().sort(function (a, b) { return order[a.state] - order[b.state]; }).forEach(function (stop) {
      var r = stop.state === "not_urban" ? 2.2 : 3.6;
      var boards = stop.boards.map(function (b) {
        return b.board_id + " " + (b.online_share === null ? "无在线记录 never online" : "在线 online " + pct(b.online_share));
      }).join("; ");
      var c = svg("circle", { cx: px(stop.lon).toFixed(1), cy: py(stop.lat).toFixed(1), r: r * unit,
                              fill: STATE_COLOR[stop.state], stroke: "#fff", "stroke-width": 0.6,
                              "vector-effect": "non-scaling-stroke", "data-state": stop.state, "data-stop": stop.id });
      title(c, stop.name + " (" + stop.id + ") · " + STATES.filter(function (x) { return x[0] === stop.state; })
        .map(function (x) { return x[2] + " " + x[3]; })[0] + (boards ? " · " + boards : ""));
      circles.push([c, r]);
      s.appendChild(c);
    });
    function apply() {
      s.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
      var k = view.w / base.w;
      circles.forEach(function (pair) { pair[0].setAttribute("r", pair[1] * unit * Math.max(k, 0.05)); });
    }
    s.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var rect = s.getBoundingClientRect();
      var scale = Math.max(view.w / rect.width, view.h / rect.height);
      var cx = view.x + (ev.clientX - rect.left - (rect.width - view.w / scale) / 2) * scale;
      var cy = view.y + (ev.clientY - rect.top - (rect.height - view.h / scale) / 2) * scale;
      var f = ev.deltaY > 0 ? 1.2 : 1 / 1.2;
      view.x = cx - (cx - view.x) * f;
      view.y = cy - (cy - view.y) * f;
      view.w *= f;
      view.h *= f;
      apply();
    }, { passive: false });
    var drag = null;
    s.addEventListener("pointerdown", function (ev) { drag = { x: ev.clientX, y: ev.clientY }; });
    window.addEventListener("pointerup", function () { drag = null; });
    s.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      var rect = s.getBoundingClientRect();
      var scale = Math.max(view.w / rect.width, view.h / rect.height);
      view.x -= (ev.clientX - drag.x) * scale;
      view.y -= (ev.clientY - drag.y) * scale;
      drag = { x: ev.clientX, y: ev.clientY };
      apply();
    });
    box.appendChild(s);
    box.appendChild(el("p", { className: "hint", text: "滚轮缩放、拖动平移;鼠标悬停查看站点与站牌。 Wheel to zoom, drag to pan, hover a stop for its boards. " +
      (map.boundary ? "城区范围来源 boundary: " + map.boundary_origin : "未配置城区范围 no urban boundary configured") +
      (map.boards_available ? "" : " · " + map.boards_missing) }));
    return el("section", {},
      el("h2", {}, "城区站点电子站牌覆盖", el("span", { className: "en", text: "Urban stops by board coverage" })), box);
  }

  B.mapSection = mapSection;
}());
