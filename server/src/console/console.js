// Outpost workstation console: live updates of the queue. The pages work without it; this
// only listens to the server's event stream and refreshes what changed. Everything shown
// comes from the server already escaped, or is set with textContent.
"use strict";
(function () {
  var queue = document.getElementById("queue");
  var alerts = document.getElementById("alerts");
  var zh = document.documentElement.lang !== "en";
  var refreshing = false, again = false;

  function refresh() {
    if (!queue) return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    var params = new URLSearchParams(location.search);
    params.set("partial", "1");
    fetch("/console?" + params.toString(), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 200) return r.text();
        if (r.redirected || r.status === 401) location.reload();
        throw new Error("queue refresh: " + r.status);
      })
      .then(function (html) {
        queue.innerHTML = html;
        queue.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  function announce(c) {
    if (!alerts || c.urgency !== "life_safety" || c.status !== "new") return;
    var p = document.createElement("p");
    p.className = "alert";
    var a = document.createElement("a");
    a.href = "/console/cases/" + encodeURIComponent(c.id);
    a.textContent = (zh ? "生命安全警报：" : "Life-safety flag: ") + c.title;
    p.appendChild(a);
    alerts.insertBefore(p, alerts.firstChild);
    while (alerts.children.length > 5) alerts.removeChild(alerts.lastChild);
    if (document.hidden && "Notification" in window && Notification.permission === "granted") {
      new Notification(a.textContent);
    }
  }

  if (!("EventSource" in window)) return;
  var es = new EventSource("/console/events");
  es.addEventListener("ready", function () {
    // The queue is interactive and live from here (measured by tests/browser/queue_perf.mjs).
    if (window.performance && performance.mark) performance.mark("outpost-live-ready");
    document.body.setAttribute("data-live", "ready");
    if (queue) queue.setAttribute("data-live", "ready");
  });
  es.addEventListener("case", function (e) {
    var c;
    try { c = JSON.parse(e.data); } catch (_) { return; }
    announce(c);
    refresh();
  });
  es.addEventListener("reload", refresh);
  es.onerror = function () {
    document.body.setAttribute("data-live", "reconnecting");
  };
})();
