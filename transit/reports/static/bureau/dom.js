/* The dashboard's shared pieces: DOM and SVG helpers, number formats, colours.  Loaded first;
 * charts.js, map.js and bureau.js add to the same ``Bureau`` namespace. */
(function () {
  "use strict";
  var B = window.Bureau = window.Bureau || {};

  var NS = "http://www.w3.org/2000/svg";
  var STATES = [
    ["covered", "#1a9850", "有在线电子站牌", "working board"],
    ["board_offline", "#f39c12", "站牌在线时间不足", "board offline too long"],
    ["no_board", "#d73027", "无电子站牌", "no board"],
    ["not_urban", "#b8c0c8", "非城区站点", "not urban"]
  ];
  var STATE_COLOR = {};
  STATES.forEach(function (s) { STATE_COLOR[s[0]] = s[1]; });
  var FOUR = "#e08b00";
  var FIVE = "#1a9850";
  var KIND_ZH = { line: "线路 line", stop: "站点 stop", board: "站牌 board", channel: "支付方式 channel",
                  intersection: "路口 intersection" };

  // ------------------------------------------------------------------ small DOM helpers
  function el(tag, props) {
    var node = document.createElement(tag);
    var children = Array.prototype.slice.call(arguments, 2);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === "text") { node.textContent = props[k]; }
        else if (k === "className") { node.className = props[k]; }
        else if (k.slice(0, 2) === "on") { node.addEventListener(k.slice(2), props[k]); }
        else { node.setAttribute(k, props[k]); }
      });
    }
    (function add(list) {
      list.forEach(function (c) {
        if (c === null || c === undefined || c === false) { return; }
        if (Array.isArray(c)) { add(c); return; }
        node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      });
    }(children));
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function title(node, text) { node.appendChild(svg("title", {}, text)); return node; }

  function pct(v, digits) {
    if (v === null || v === undefined) { return "—"; }
    return (v * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  function num(n) { return (n === null || n === undefined) ? "—" : Number(n).toLocaleString("zh-CN"); }

  function bilingual(zh, en, cls) {
    return el("span", { className: cls || "" }, zh, en ? el("span", { className: "en", text: en }) : null);
  }

  B.NS = NS; B.STATES = STATES; B.STATE_COLOR = STATE_COLOR; B.FOUR = FOUR; B.FIVE = FIVE; B.KIND_ZH = KIND_ZH;
  B.el = el; B.svg = svg; B.title = title; B.pct = pct; B.num = num; B.bilingual = bilingual;
}());
