/* opsledger dashboard: local times on hover, live countdowns, and live updates.
 * No inline script (the pages' Content-Security-Policy forbids it); all data comes from
 * the page's own markup (data- attributes), never from strings built into code. */
(function () {
  "use strict";
  var body = document.body;
  var serverNow = Date.parse(body.getAttribute("data-now") || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(at.getTime())) {
        times[i].title = at.toLocaleString() + " (your local time)";
      }
    }
  }

  function span(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var parts = [];
    if (d) { parts.push(d + "d"); }
    if (d || h) { parts.push(h + "h"); }
    parts.push(m + "m", s + "s");
    return parts.join(" ");
  }

  function countdowns() {
    var now = Date.now() + skew;
    var items = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < items.length; i++) {
      var due = Date.parse(items[i].getAttribute("data-countdown"));
      if (isNaN(due)) { continue; }
      var left = Math.round((due - now) / 1000);
      items[i].textContent = left >= 0 ? "due in " + span(left) : "overdue by " + span(-left);
      items[i].classList.toggle("overdue", left < 0);
    }
  }

  function busy(region) {
    /* Never replace a region while someone is typing in it. */
    var active = document.activeElement;
    if (active && region.contains(active) && active.matches("input, textarea")) {
      return true;
    }
    var fields = region.querySelectorAll("textarea, input:not([type=hidden]):not([type=checkbox])");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value) { return true; }
    }
    return false;
  }

  function refresh(head) {
    return fetch(window.location.href, {credentials: "same-origin", cache: "no-store"})
      .then(function (answer) {
        if (!answer.ok) { throw new Error("page " + answer.status); }
        return answer.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var regions = document.querySelectorAll("[data-live][id]");
        for (var i = 0; i < regions.length; i++) {
          var next = fresh.getElementById(regions[i].id);
          if (next && !busy(regions[i])) {
            regions[i].replaceWith(document.importNode(next, true));
          }
        }
        body.setAttribute("data-head", fresh.body.getAttribute("data-head") || head);
        localTimes(document);
        countdowns();
        var status = document.getElementById("live-status");
        if (status) { status.textContent = "Live: updated " + new Date().toLocaleTimeString() + "."; }
      });
  }

  var polling = false;
  function poll() {
    if (polling) { return; }
    polling = true;
    fetch(body.getAttribute("data-version-url"), {credentials: "same-origin", cache: "no-store"})
      .then(function (answer) {
        if (answer.status === 401) { window.location.assign("/ui/login"); }
        return answer.ok ? answer.json() : null;
      })
      .then(function (version) {
        if (version && String(version.head) !== body.getAttribute("data-head")) {
          return refresh(String(version.head));
        }
        return null;
      })
      .catch(function () { /* the server may be restarting: try again next tick */ })
      .then(function () { polling = false; });
  }

  localTimes(document);
  countdowns();
  window.setInterval(countdowns, 1000);
  if (body.getAttribute("data-live") === "on") {
    window.setInterval(poll, 1000);
  }
}());
