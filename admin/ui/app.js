// Loom's dashboard: polls the admin JSON API (relative URLs, so it works
// under any path prefix) and draws what it reads. Plain DOM, no framework;
// text goes in through textContent only, since client ids, usernames and
// topics are whatever clients sent.
(function () {
  "use strict";

  var STATS_EVERY = 1000; // ms between /api/v1/stats polls
  var TOPICS_EVERY = 2000;
  var CLIENTS_EVERY = 5000;
  var RETRY_MAX = 5000; // the longest wait between tries while the API is down
  var WINDOW = 300; // seconds of rate history on the chart
  var PAGE = 50; // clients per page ("more" fetches the next)
  var TIMEOUT = 8000; // ms before a request is given up: past the API's own 5 s bound on the broker's loops

  var DROPS = [
    ["queue_full", "queue full"],
    ["session_bytes", "session bytes"],
    ["budget", "memory budget"],
    ["slow_reader", "slow reader"],
    ["expired", "expired"],
    ["too_large", "too large"],
    ["not_authorized", "not authorized"],
    ["rejected", "rejected by a hook"],
  ];

  var $ = function (id) { return document.getElementById(id); };
  var nf = new Intl.NumberFormat("en-US");
  var rf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  // A bearer token given as #token=... goes into this tab's sessionStorage
  // and out of the address bar; basic credentials the browser sends itself.
  // A new fragment (a token pasted into the address bar of the open page)
  // is taken the same way.
  var token = null;
  function takeToken() {
    var t = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
    if (t) history.replaceState(null, "", location.pathname + location.search);
    try {
      if (t) sessionStorage.setItem("loom-token", t);
      token = sessionStorage.getItem("loom-token");
    } catch (e) {
      if (t) token = t; // storage off (a sandboxed frame): keep it in memory
    }
  }
  takeToken();
  window.addEventListener("hashchange", takeToken);

  // apiURL resolves a path of the API against the page, without the user
  // and password of a page opened as http://user:pass@host/ (fetch refuses
  // a URL that holds them; the browser sends them from its cache).
  function apiURL(path) {
    var u = new URL(path, document.baseURI);
    u.username = "";
    u.password = "";
    return u.href;
  }

  // get fetches one API path and returns its JSON, or throws an Error
  // that says what went wrong (the API's own {"error": ...} if it sent one).
  function get(path) {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, TIMEOUT);
    var headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(apiURL(path), { headers: headers, cache: "no-store", credentials: "same-origin", signal: ctl.signal })
      .then(function (res) {
        return res.text().then(function (body) {
          var data = null;
          try { data = body ? JSON.parse(body) : null; } catch (e) { /* not JSON: said below */ }
          if (!res.ok) {
            var err = new Error(path.split("?")[0] + ": " + res.status + (data && data.error ? " " + data.error : ""));
            err.status = res.status;
            throw err;
          }
          if (data === null || typeof data !== "object") throw new Error(path.split("?")[0] + ": not JSON");
          return data;
        });
      }, function (e) {
        throw new Error(e && e.name === "AbortError" ? "no answer in " + TIMEOUT / 1000 + " s" : "unreachable");
      })
      .finally(function () { clearTimeout(timer); });
  }

  // every runs fn now and again after each run ends (never two at once),
  // every ms while it succeeds, backing off while it fails; onErr is told
  // of each failure, and returns false to stop for good.
  function every(ms, fn, onErr) {
    var wait = ms;
    var loop = function () {
      Promise.resolve().then(fn).then(function () {
        wait = ms;
        return true;
      }, function (e) {
        wait = Math.min(wait * 2, Math.max(ms, RETRY_MAX));
        try { return onErr(e) !== false; } catch (e2) { return true; /* showing an error must not stop the loop */ }
      }).then(function (again) { if (again) setTimeout(loop, wait); });
    };
    loop();
  }

  function setText(id, v) {
    var el = $(id);
    if (el && el.textContent !== v) el.textContent = v;
  }
  function num(v) { return typeof v === "number" && isFinite(v) ? nf.format(v) : "–"; }
  function rate(v) { return v == null || !isFinite(v) ? "–" : rf.format(v); }
  function bytes(v) {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? rf.format(v) : nf.format(v)) + " " + u[i];
  }
  function clock(t) {
    var d = new Date(t * 1000);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  function duration(s) {
    if (typeof s !== "number" || !isFinite(s) || s < 0) return "–";
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d) return d + "d " + h + "h " + m + "m";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + (s % 60) + "s";
    return s + "s";
  }

  // --- connection state: the stats poll, once a second, is the page's
  // sign of life; the other polls report their errors in their own tables.

  var down = false;
  function failed(e) {
    down = true;
    var st = $("state");
    st.textContent = "disconnected";
    st.className = "state down";
    var er = $("error");
    er.textContent = (e && e.message) || String(e);
    er.hidden = false;
  }
  function ok() {
    if (!down && $("state").className === "state up") return;
    down = false;
    var st = $("state");
    st.textContent = "connected";
    st.className = "state up";
    $("error").hidden = true;
  }

  // --- stats and the rate chart

  var prev = null; // the last sample: {t (seconds), s (the stats)}
  var xs = [], ins = [], outs = [];
  var chart = null;

  function sampleTime(s) {
    var t = Date.parse(s.time);
    return isFinite(t) ? t / 1000 : Date.now() / 1000;
  }

  // perSecond is the rate of a counter between two samples, or null where
  // it cannot be told (no earlier sample, or the counter went back: the
  // broker restarted on an empty store).
  function perSecond(a, b, dt) {
    if (typeof a !== "number" || typeof b !== "number" || !(dt > 0) || b < a) return null;
    return (b - a) / dt;
  }

  function pollStats() {
    return get("api/v1/stats").then(function (s) {
      ok();
      var t = sampleTime(s);
      var rin = null, rout = null, bin = null, bout = null, dt = 0;
      if (prev) {
        dt = t - prev.t;
        rin = perSecond(prev.s.messages_in, s.messages_in, dt);
        rout = perSecond(prev.s.messages_out, s.messages_out, dt);
        bin = perSecond(prev.s.bytes_in, s.bytes_in, dt);
        bout = perSecond(prev.s.bytes_out, s.bytes_out, dt);
      }
      if (!prev || dt > 0) {
        if (prev) push(t, rin, rout);
        showStats(s, rin, rout, bin, bout, prev && prev.s, dt);
        prev = { t: t, s: s };
      }
    });
  }

  function push(t, rin, rout) {
    xs.push(t); ins.push(rin); outs.push(rout);
    while (xs.length && xs[0] < t - WINDOW) { xs.shift(); ins.shift(); outs.shift(); }
    var el = $("rate-chart");
    // What the chart holds, for a reader of the page's DOM (the tests).
    el.dataset.samples = String(xs.length);
    el.dataset.maxIn = String(max(ins));
    el.dataset.maxOut = String(max(outs));
    draw();
  }
  function max(a) {
    var m = 0;
    for (var i = 0; i < a.length; i++) if (a[i] != null && a[i] > m) m = a[i];
    return m;
  }

  // gap marks the time the API did not answer, so the line breaks there.
  function gap() {
    if (!xs.length) return;
    var t = Date.now() / 1000;
    if (t > xs[xs.length - 1]) push(t, null, null);
    prev = null;
  }

  function draw() {
    if (typeof uPlot !== "function") return; // its file failed to load: the numbers still show
    var el = $("rate-chart");
    var data = [xs, ins, outs];
    if (chart) {
      chart.setData(data);
      return;
    }
    var css = getComputedStyle(document.documentElement);
    var color = function (name, dflt) { return css.getPropertyValue(name).trim() || dflt; };
    chart = new uPlot({
      width: Math.max(el.clientWidth, 200),
      height: 220,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { x: { time: true }, y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; } } },
      axes: [
        { stroke: color("--fg", "#333"), grid: { stroke: color("--grid", "#eee") }, ticks: { stroke: color("--grid", "#eee") },
          // Whole seconds at least: the samples are a second apart.
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
          values: function (u, v) { return v.map(clock); } },
        { stroke: color("--fg", "#333"), grid: { stroke: color("--grid", "#eee") }, ticks: { stroke: color("--grid", "#eee") },
          values: function (u, v) { return v.map(rate); } },
      ],
      series: [
        {},
        { label: "messages in / s", stroke: color("--in", "#2a7ae2"), width: 2 },
        { label: "messages out / s", stroke: color("--out", "#d9822b"), width: 2 },
      ],
    }, data, el);
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () {
        var w = Math.max(el.clientWidth, 200);
        if (chart && w !== chart.width) chart.setSize({ width: w, height: 220 });
      }).observe(el);
    }
  }

  function showStats(s, rin, rout, bin, bout, p, dt) {
    setText("connected", num(s.connected));
    setText("max-connected", num(s.max_connected));
    setText("open-connections", num(s.open_connections));
    setText("rate-in", rate(rin));
    setText("rate-out", rate(rout));
    setText("bytes-in-rate", bin == null ? "–" : bytes(bin) + "/s");
    setText("bytes-out-rate", bout == null ? "–" : bytes(bout) + "/s");
    setText("messages-in", num(s.messages_in));
    setText("messages-out", num(s.messages_out));
    setText("sessions", num(s.sessions));
    setText("persistent-sessions", num(s.persistent_sessions));
    setText("total-connections", num(s.total_connections));
    setText("held-bytes", bytes(s.held_bytes));
    setText("inflight", num(s.inflight));
    setText("queued", num(s.queued));
    setText("spool-bytes", bytes(s.spool_bytes));
    setText("subscriptions", num(s.subscriptions));
    setText("shared-groups", num(s.shared_groups));
    setText("retained", num(s.retained));
    setText("dropped", num(s.dropped));
    setText("read-pauses", num(s.read_pauses));
    setText("rate-pauses", num(s.publish_rate_pauses));
    setText("refused-cap", num(s.refused_at_cap));
    setText("refused-rate", num(s.refused_for_rate));
    setText("auth-failures", num(s.auth_failures));
    setText("acl-denied", num(s.acl_denied));
    setText("uptime", duration(s.uptime_seconds));
    var st = s.store || {};
    setText("store", st.open === false ? "closed" : st.open ? (st.persistent ? "open, on disk" : "open, in memory") : "–");
    $("store").className = st.open === false ? "bad" : "";
    // The bound under which 99% of the store's commits took, since the
    // start; only a store that times its commits gives it.
    $("commit-meta").hidden = st.commit_p99_ms == null;
    if (st.commit_p99_ms != null) setText("commit-p99", "≤ " + (st.commit_p99_ms < 1 ? st.commit_p99_ms.toFixed(2) : Math.round(st.commit_p99_ms)) + " ms");

    var drops = s.drops || {};
    var pd = (p && p.drops) || {};
    var body = $("drops");
    if (!body.rows.length) {
      DROPS.forEach(function (d) {
        var tr = body.insertRow();
        tr.insertCell().textContent = d[1];
        tr.insertCell().className = "num";
        tr.insertCell().className = "num";
      });
    }
    DROPS.forEach(function (d, i) {
      var cells = body.rows[i].cells;
      var r = perSecond(pd[d[0]], drops[d[0]], dt);
      if (cells[1].textContent !== num(drops[d[0]])) cells[1].textContent = num(drops[d[0]]);
      cells[2].textContent = p ? rate(r) : "–";
      body.rows[i].className = drops[d[0]] > 0 ? "warn" : "";
    });
  }

  // --- top topics

  function pollTopics() {
    return get("api/v1/topics?n=10").then(function (d) {
      var list = Array.isArray(d.topics) ? d.topics : [];
      var body = $("topics");
      var rows = document.createDocumentFragment();
      list.forEach(function (t) {
        var tr = document.createElement("tr");
        var a = tr.insertCell();
        a.textContent = String(t.topic);
        a.className = "mono";
        var b = tr.insertCell();
        b.textContent = rate(t.messages_per_second);
        b.className = "num";
        rows.appendChild(tr);
      });
      if (!list.length) rows.appendChild(emptyRow(2, "no messages yet"));
      body.replaceChildren(rows);
    });
  }

  function emptyRow(n, text) {
    var tr = document.createElement("tr");
    var td = tr.insertCell();
    td.colSpan = n;
    td.className = "empty";
    td.textContent = text;
    return tr;
  }

  // --- clients

  var query = "";
  var pages = 1; // how many pages the table shows: "more" adds one
  var clientsGen = 0; // a newer search makes an older answer stale

  function pollClients() {
    var gen = clientsGen;
    var limit = Math.min(PAGE * pages, 1000);
    var q = "api/v1/clients?limit=" + limit + (query ? "&q=" + encodeURIComponent(query) : "");
    return get(q).then(function (d) {
      if (gen !== clientsGen) return;
      showClients(Array.isArray(d.clients) ? d.clients : [], d.next || "", d.total);
    });
  }

  function more() {
    var gen = clientsGen;
    var body = $("clients");
    var last = body.dataset.next;
    if (!last) return;
    var q = "api/v1/clients?limit=" + PAGE + "&after=" + encodeURIComponent(last) + (query ? "&q=" + encodeURIComponent(query) : "");
    get(q).then(function (d) {
      if (gen !== clientsGen) return;
      pages++;
      var list = Array.isArray(d.clients) ? d.clients : [];
      var rows = document.createDocumentFragment();
      list.forEach(function (c) { rows.appendChild(clientRow(c)); });
      body.appendChild(rows);
      setNext(d.next || "");
    }).catch(clientsFailed);
  }

  function clientsFailed(e) {
    $("clients").replaceChildren(emptyRow(9, "cannot list clients: " + e.message));
    setNext("");
  }

  function showClients(list, next, total) {
    var rows = document.createDocumentFragment();
    list.forEach(function (c) { rows.appendChild(clientRow(c)); });
    if (!list.length) rows.appendChild(emptyRow(9, query ? "no client matches" : "no client connected"));
    $("clients").replaceChildren(rows);
    setNext(next);
    setText("clients-total", typeof total === "number" ? "(" + num(total) + (query ? " matching" : "") + ")" : "");
  }

  function setNext(next) {
    $("clients").dataset.next = next;
    $("clients-more").hidden = !next;
  }

  function clientRow(c) {
    var tr = document.createElement("tr");
    var cell = function (v, cls) {
      var td = tr.insertCell();
      td.textContent = v == null || v === "" ? "–" : String(v);
      if (cls) td.className = cls;
      return td;
    };
    cell(c.id, "mono");
    cell(c.username);
    cell(c.remote, "mono");
    cell(c.listener);
    cell(c.version);
    cell(typeof c.keepalive === "number" ? c.keepalive + " s" : "", "num");
    cell(num(c.inflight), "num");
    cell(num(c.queued), "num");
    var since = Date.parse(c.connected_since);
    var td = cell(isFinite(since) ? when(since) + " (" + duration((Date.now() - since) / 1000) + " ago)" : c.connected_since);
    if (c.connected_since) td.title = String(c.connected_since);
    return tr;
  }

  // when is a time of today as the clock shows it, an older one with its date.
  function when(ms) {
    var d = new Date(ms);
    return d.toDateString() === new Date().toDateString() ? clock(ms / 1000) : d.toLocaleString();
  }

  var searchTimer = 0;
  function onSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      var v = $("client-search").value.trim();
      if (v === query) return;
      query = v;
      pages = 1;
      clientsGen++;
      pollClients().catch(clientsFailed);
    }, 250);
  }

  // --- start

  function start() {
    $("window").textContent = String(WINDOW / 60);
    $("client-search").addEventListener("input", onSearch);
    $("clients-more").addEventListener("click", more);
    draw();
    every(STATS_EVERY, pollStats, function (e) { gap(); failed(e); });
    every(TOPICS_EVERY, pollTopics, function (e) {
      // A broker without top topics (404, 501) is not a broker that is
      // down, and will not grow them: stop asking.
      var absent = e.status === 404 || e.status === 501;
      $("topics").replaceChildren(emptyRow(2, absent ? "not available in this broker" : "cannot list topics: " + e.message));
      return !absent;
    });
    every(CLIENTS_EVERY, pollClients, clientsFailed);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
