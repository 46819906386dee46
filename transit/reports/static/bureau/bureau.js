/* The bureau dashboard: indicators against their targets, the monthly trend, the board-coverage
 * map and the tables of what does not count.  Hand-written, no libraries, nothing fetched from
 * anywhere but this service: charts and the map are drawn as SVG from the report's own data.
 *
 * Two modes: served at /bureau it fetches the reports API (with the reports token kept for the
 * browser session); saved by `transit report --format html` it reads the data embedded in the
 * page and works offline.
 */
(function () {
  "use strict";

  var B = window.Bureau;
  var el = B.el, svg = B.svg, title = B.title, pct = B.pct, num = B.num;
  var FOUR = B.FOUR, FIVE = B.FIVE, KIND_ZH = B.KIND_ZH;
  var gauge = B.gauge, lineChart = B.lineChart, mapSection = B.mapSection;
  var TOKEN_KEY = "transit.reports.token";

  // ------------------------------------------------------------------ data sources
  var embedded = null;
  var token = null;

  function readToken() {
    var hash = window.location.hash || "";
    var m = /token=([^&]+)/.exec(hash);
    if (m) {
      try { window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1])); } catch (e) { /* private mode */ }
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function AuthError(message) { this.message = message; this.auth = true; }

  function api(path) {
    var headers = {};
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch(path, { headers: headers, credentials: "same-origin" }).then(function (resp) {
      if (resp.status === 401) { throw new AuthError("需要报表令牌 A reports token is needed"); }
      return resp.json().then(function (body) {
        if (!resp.ok) {
          throw new Error((body && body.error && body.error.message) || ("HTTP " + resp.status));
        }
        return body;
      });
    });
  }

  function download(path, filename) {
    var headers = {};
    if (token) { headers.Authorization = "Bearer " + token; }
    fetch(path, { headers: headers }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el("a", { href: url, download: filename });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    }).catch(function (e) { showError("下载失败 Download failed: " + e.message); });
  }

  // ------------------------------------------------------------------ period controls
  var period = { kind: "month", month: "", day: "", from: "", to: "" };

  function today() {
    var d = new Date();
    var m = String(d.getMonth() + 1).padStart(2, "0");
    return d.getFullYear() + "-" + m + "-" + String(d.getDate()).padStart(2, "0");
  }

  function periodQuery() {
    if (period.kind === "day" && period.day) { return "?day=" + period.day; }
    if (period.kind === "range" && period.from && period.to) { return "?from=" + period.from + "&to=" + period.to; }
    return "?month=" + (period.month || today().slice(0, 7));
  }

  function periodEnd() {
    if (period.kind === "day" && period.day) { return period.day.slice(0, 7); }
    if (period.kind === "range" && period.to) { return period.to.slice(0, 7); }
    return period.month || today().slice(0, 7);
  }

  function buildControls(host) {
    host.replaceChildren();
    if (embedded) {
      host.appendChild(el("span", { className: "offline", text: "离线报告 Offline report" }));
      return;
    }
    period.month = period.month || today().slice(0, 7);
    var kind = el("select", { "aria-label": "周期 Period" },
      el("option", { value: "month", text: "按月 Month" }),
      el("option", { value: "day", text: "按日 Day" }),
      el("option", { value: "range", text: "自定义 Range" }));
    kind.value = period.kind;
    var month = el("input", { type: "month", value: period.month, "aria-label": "月份 Month" });
    var day = el("input", { type: "date", value: period.day || today(), "aria-label": "日期 Day" });
    var from = el("input", { type: "date", value: period.from || (period.month + "-01"), "aria-label": "开始 From" });
    var to = el("input", { type: "date", value: period.to || today(), "aria-label": "结束 To" });
    function show() {
      month.classList.toggle("hidden", kind.value !== "month");
      day.classList.toggle("hidden", kind.value !== "day");
      from.classList.toggle("hidden", kind.value !== "range");
      to.classList.toggle("hidden", kind.value !== "range");
    }
    kind.addEventListener("change", show);
    show();
    var go = el("button", { type: "button", text: "查询 Show", onclick: function () {
      period = { kind: kind.value, month: month.value, day: day.value, from: from.value, to: to.value };
      start_live();
    } });
    var csv = el("select", { "aria-label": "CSV 表 CSV table" },
      el("option", { value: "summary", text: "CSV: 指标汇总 summary" }),
      el("option", { value: "not_counted", text: "CSV: 未计入清单 not counted" }),
      el("option", { value: "lines", text: "CSV: 线路实时预报 lines" }),
      el("option", { value: "stops", text: "CSV: 城区站点 stops" }),
      el("option", { value: "payment_lines", text: "CSV: 线路电子支付 payment by line" }),
      el("option", { value: "payment_channels", text: "CSV: 支付方式 payment by channel" }),
      el("option", { value: "payment_days", text: "CSV: 每日电子支付 payment by day" }));
    var getCsv = el("button", { type: "button", text: "下载 CSV Download", onclick: function () {
      download("/api/v1/reports/indicators" + periodQuery() + "&format=csv&table=" + csv.value,
               "indicators_" + csv.value + ".csv");
    } });
    var getHtml = el("button", { type: "button", text: "下载离线报告 HTML report", onclick: function () {
      download("/api/v1/reports/indicators" + periodQuery() + "&format=html", "indicators.html");
    } });
    host.append(el("label", {}, "周期 Period", kind), month, day, from, to, go, csv, getCsv, getHtml);
  }

  // ------------------------------------------------------------------ sections
  function headerSection(report) {
    var p = report.period;
    var feed = report.feed ? ("GTFS 版本 feed " + report.feed.feed_id + " · " + report.feed.agency + " · " +
                              report.feed.lines + " 条线路 lines · " + report.feed.stops + " 个站点 stops")
                           : "未加载GTFS no GTFS feed loaded";
    return el("section", { className: "summary" },
      el("h2", {}, "统计周期 ", el("span", { className: "en", text: "Period" }), " " + p.label),
      el("p", { className: "meta" },
        p.from + " 至 " + p.to + " (" + p.days + " 天 days, " + p.timezone + ") · " +
        (p.complete ? "完整周期 complete" : "截至 measured until " + p.measured_until.replace("T", " ").slice(0, 16)) +
        " · " + feed + " · 生成于 generated " + report.generated_at.replace("T", " ").slice(0, 19)));
  }

  function starsText(n) { return n >= 5 ? "★★★★★" : n >= 4 ? "★★★★" : ""; }

  function ratingsSection(ratings) {
    return el("section", {},
      el("h2", {}, "星级评价", el("span", { className: "en", text: "Star rating by indicator" })),
      el("div", { className: "ratings" }, ratings.map(function (r) {
        var stars = r.available ? starsText(r.stars) : "";
        return el("div", { className: "rating", "data-number": String(r.number) },
          el("div", { className: "name" }, "指标" + r.number + " " + r.name_zh, el("span", { className: "en", text: r.name_en })),
          el("div", { className: "stars" + (stars ? "" : " none"),
                      text: stars || (r.available ? "未达四星 below 4 stars" : "暂无数据 no data") }));
      })));
  }

  function indicatorCard(ind) {
    var cls = "indicator " + (ind.available ? "stars" + ind.stars : "unavailable");
    var label = "指标" + ind.number + (ind.part ? "(" + ind.part + ")" : "");
    return el("article", { className: cls, "data-id": ind.id },
      el("span", { className: "tag", text: label }),
      el("h3", {}, ind.name_zh, el("span", { className: "en", text: ind.name_en })),
      el("div", { className: "value", text: ind.available ? pct(ind.value) : "暂无数据" }),
      el("div", { className: "fraction",
                  text: ind.available ? num(ind.numerator) + " / " + num(ind.denominator) + " " + ind.unit_zh + " " +
                                        ind.unit_en : "no data" }),
      gauge(ind),
      el("ul", { className: "targets" },
        el("li", { className: ind.four_star.met ? "met" : "" },
           "四星 4★ " + ind.four_star.label + (ind.four_star.met ? " 达标 met" : " 未达标 not met")),
        el("li", { className: ind.five_star.met ? "met" : "" },
           "五星 5★ " + ind.five_star.label + (ind.five_star.met ? " 达标 met" : " 未达标 not met"))),
      ind.notes.length ? el("ul", { className: "notes" }, ind.notes.map(function (n) { return el("li", { text: n }); }))
                       : null);
  }

  function indicatorsSection(indicators) {
    return el("section", {},
      el("h2", {}, "指标与目标", el("span", { className: "en", text: "Indicators against their 4★ and 5★ targets" })),
      el("div", { className: "indicators" }, indicators.map(indicatorCard)));
  }

  function dash(color) {
    var d = el("span", { className: "dash" });
    d.style.borderColor = color;
    return d;
  }

  function trendSection(trend) {
    if (!trend) { return null; }
    return el("section", {},
      el("h2", {}, "月度趋势", el("span", { className: "en", text: "Monthly trend" })),
      el("div", { className: "legend" },
        el("span", {}, dash(FOUR), "四星目标 4★ target"),
        el("span", {}, dash(FIVE), "五星目标 5★ target"),
        el("span", { text: "空心点: 本月未结束 hollow point: month not over" })),
      el("div", { className: "trend" }, trend.series.map(function (s) {
        return el("div", { className: "chart", "data-id": s.id },
          el("h3", {}, "指标" + s.id + " " + s.name_zh, el("span", { className: "en", text: s.name_en })),
          lineChart(s, trend.months, trend.complete));
      })));
  }

  // ------------------------------------------------------------------ the map
  // ------------------------------------------------------------------ tables
  function table(columns, rows, limit) {
    var body = el("tbody");
    var shown = 0;
    function more() {
      rows.slice(shown, shown + limit).forEach(function (r) {
        body.appendChild(el("tr", { className: r.__cls || "" }, columns.map(function (c) {
          var v = c.get(r);
          return el("td", { className: c.num ? "num" : "", text: v === null || v === undefined ? "" : String(v) });
        })));
      });
      shown = Math.min(rows.length, shown + limit);
    }
    more();
    var wrap = el("div", {}, el("table", {},
      el("thead", {}, el("tr", {}, columns.map(function (c) { return el("th", { className: c.num ? "num" : "", text: c.label }); }))),
      body));
    if (rows.length > shown) {
      var btn = el("button", { type: "button", className: "more",
                               text: "显示全部 " + rows.length + " 行 Show all " + rows.length + " rows" });
      btn.addEventListener("click", function () { limit = rows.length; more(); btn.remove(); });
      wrap.appendChild(btn);
    }
    return wrap;
  }

  function notCountedSection(indicators) {
    return el("section", { className: "not-counted" },
      el("h2", {}, "未计入清单", el("span", { className: "en", text: "What does not count, and why" })),
      indicators.map(function (ind) {
        var label = "指标" + ind.number + (ind.part ? "(" + ind.part + ")" : "") + " " + ind.name_zh + " ";
        var d = el("details", { className: "table", "data-id": ind.id },
          el("summary", {}, label, el("span", { className: "en", text: ind.name_en }),
             el("span", { className: "count", text: String(ind.not_counted.length) })));
        if (!ind.available) {
          d.appendChild(el("p", { className: "meta", text: ind.notes.join(" ") }));
        } else if (!ind.not_counted.length) {
          d.appendChild(el("p", { className: "meta", text: "全部计入 everything counts" }));
        } else {
          d.appendChild(table([
            { label: "类别 Kind", get: function (r) { return KIND_ZH[r.kind] || r.kind; } },
            { label: "编号 ID", get: function (r) { return r.id; } },
            { label: "名称 Name", get: function (r) { return r.name; } },
            { label: "原因 Reason", get: function (r) { return r.reason; } }
          ], ind.not_counted, 100));
        }
        return d;
      }));
  }

  function breakdownSection(report) {
    var byId = {};
    report.indicators.forEach(function (i) { byId[i.id] = i; });
    var parts = [];
    var pay = byId["8"];
    if (pay && pay.tables.channels && pay.tables.channels.length) {
      parts.push(el("details", { className: "table", open: "" },
        el("summary", {}, "电子支付 按支付方式 ", el("span", { className: "en", text: "Payment by channel" })),
        table([
          { label: "支付方式 Channel", get: function (r) { return r.name; } },
          { label: "电子支付 Electronic", get: function (r) { return r.electronic ? "是 yes" : "否 no"; } },
          { label: "人次 Boardings", num: true, get: function (r) { return num(r.boardings); } },
          { label: "占比 Share", num: true, get: function (r) { return pct(r.share); } }
        ], pay.tables.channels, 50)));
      parts.push(el("details", { className: "table" },
        el("summary", {}, "电子支付 按线路 ", el("span", { className: "en", text: "Payment by line" })),
        table([
          { label: "线路 Line", get: function (r) { return r.name; } },
          { label: "电子支付人次 Electronic", num: true, get: function (r) { return num(r.electronic); } },
          { label: "总人次 Boardings", num: true, get: function (r) { return num(r.boardings); } },
          { label: "电子支付率 Rate", num: true, get: function (r) { return pct(r.rate); } }
        ], pay.tables.lines, 50)));
    }
    var lines = byId["2a"];
    if (lines && lines.tables.lines && lines.tables.lines.length) {
      var rows = lines.tables.lines.map(function (r) { return Object.assign({ __cls: r.counts ? "" : "no" }, r); });
      parts.push(el("details", { className: "table" },
        el("summary", {}, "实时预报 按线路 ", el("span", { className: "en", text: "Real-time predictions by line" })),
        table([
          { label: "线路 Line", get: function (r) { return r.name; } },
          { label: "计划班次 Scheduled", num: true, get: function (r) { return num(r.scheduled_trips); } },
          { label: "实时预报班次 Served", num: true, get: function (r) { return num(r.served_trips); } },
          { label: "比例 Share", num: true, get: function (r) { return pct(r.share); } },
          { label: "有实时天数 Days", num: true, get: function (r) { return r.days_served + " / " + r.days_scheduled; } },
          { label: "计入 Counts", get: function (r) { return r.counts ? "是 yes" : "否 no"; } }
        ], rows, 50)));
    }
    if (!parts.length) { return null; }
    return el("section", {}, el("h2", {}, "明细", el("span", { className: "en", text: "Breakdowns" })), parts);
  }

  function definitionsSection(report) {
    var defs = report.definitions || {};
    return el("section", { className: "definitions" },
      el("h2", {}, "指标定义与测算方法", el("span", { className: "en", text: "Definitions and how they are measured" })),
      el("dl", {}, report.indicators.map(function (ind) {
        var d = defs[ind.id] || {};
        return [el("dt", { text: "指标" + ind.number + (ind.part ? "(" + ind.part + ")" : "") + " " + ind.name_zh + " " + ind.name_en }),
                el("dd", {}, el("div", { text: d.formula_zh || "" }), el("div", { className: "en", text: d.formula_en || "" }),
                   el("div", { className: "en", text: d.measured_en || "" }))];
      }).reduce(function (a, b) { return a.concat(b); }, [])));
  }

  // ------------------------------------------------------------------ page flow
  function app() { return document.getElementById("app"); }

  function showError(message) {
    app().replaceChildren(el("p", { className: "error", text: message }));
    document.body.setAttribute("data-ready", "error");
  }

  function showLogin(rejected) {
    var input = el("input", { type: "password", placeholder: "令牌 token", autocomplete: "current-password",
                              "aria-label": "报表令牌 Reports token" });
    var form = el("form", {}, input, el("button", { type: "submit", text: "确定 OK" }));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      token = input.value.trim();
      try { window.sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode */ }
      start_live();
    });
    app().replaceChildren(el("div", { className: "login" },
      el("h2", {}, "请输入报表令牌", el("span", { className: "en", text: "Enter the reports token" })),
      rejected ? el("p", { className: "error", text: "令牌无效 The token was not accepted." }) : null,
      el("p", { className: "meta", text: "由系统管理员提供 (TRANSIT_REPORTS_TOKEN 或管理令牌)。 Ask the operator for the reports token." }),
      form));
    document.body.setAttribute("data-ready", "login");
    input.focus();
  }

  function render(data) {
    var report = data.report;
    app().replaceChildren.apply(app(), [
      headerSection(report),
      ratingsSection(report.ratings),
      indicatorsSection(report.indicators),
      trendSection(data.trend),
      mapSection(data.map),
      notCountedSection(report.indicators),
      breakdownSection(report),
      definitionsSection(report)
    ].filter(Boolean));
    document.body.setAttribute("data-ready", "1");
  }

  // Ask first whether the token is good (always a 200), so that a missing or wrong token shows
  // the form instead of failed requests.
  function checkAccess() {
    var headers = {};
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch("/api/v1/reports/access", { headers: headers, credentials: "same-origin" })
      .then(function (resp) { return resp.json(); });
  }

  function start_live() {
    document.body.removeAttribute("data-ready");
    checkAccess().then(function (access) {
      if (access.allowed) { load(); } else { showLogin(Boolean(token)); }
    }).catch(function (e) { showError("加载失败 Could not load: " + (e && e.message)); });
  }

  function load() {
    document.body.removeAttribute("data-ready");
    app().replaceChildren(el("p", { className: "loading", text: "正在计算… Computing…" }));
    var q = periodQuery();
    Promise.all([
      api("/api/v1/reports/indicators" + q),
      api("/api/v1/reports/trend?to=" + periodEnd() + "&months=12"),
      api("/api/v1/reports/map" + q)
    ]).then(function (r) {
      render({ report: r[0], trend: r[1], map: r[2] });
    }).catch(function (e) {
      if (e && e.auth) { showLogin(true); } else { showError("加载失败 Could not load: " + (e && e.message)); }
    });
  }

  function start() {
    var node = document.getElementById("report-data");
    if (node) {
      embedded = JSON.parse(node.textContent);
      buildControls(document.getElementById("controls"));
      render(embedded);
      return;
    }
    token = readToken();
    buildControls(document.getElementById("controls"));
    start_live();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
