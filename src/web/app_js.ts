/**
 * The pages' script, served by the daemon as /static/app.js (a TS module so `deno compile` carries it; the
 * CSP allows only the daemon's own scripts). Plain JavaScript, no framework: it shows times in the reader's
 * zone and applies each `transition` from GET /api/v1/stream (Server-Sent Events; with the viewers the daemon
 * knows, when it knows them) to the page without a reload. It writes text with textContent only, so a streamer's title can never become markup.
 */
export const APP_JS = `"use strict";
(function () {
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      el.title = date.toISOString();
      el.textContent = date.toLocaleString();
    });
  }
  function timeCell(iso) {
    var cell = document.createElement("td");
    var time = document.createElement("time");
    time.setAttribute("datetime", iso);
    time.textContent = iso;
    cell.appendChild(time);
    localise(cell);
    return cell;
  }
  function textCell(text) {
    var cell = document.createElement("td");
    cell.textContent = text || "";
    return cell;
  }
  // As pages.ts renders it: the count, and when it was seen as the tooltip; empty when unknown.
  function viewersCell(t) {
    var cell = document.createElement("td");
    cell.className = "num";
    if (typeof t.viewers === "number") {
      cell.textContent = t.viewers.toLocaleString("en-US");
      if (t.viewers_seen_at) cell.title = "seen " + t.viewers_seen_at;
    }
    return cell;
  }
  function slugCell(slug) {
    var cell = document.createElement("th");
    cell.scope = "row";
    var link = document.createElement("a");
    link.href = "/streamers/" + encodeURIComponent(slug);
    link.textContent = slug;
    cell.appendChild(link);
    return cell;
  }
  function tbody(id) {
    var table = document.getElementById(id);
    return table ? table.tBodies[0] : null;
  }
  function removeRow(id, slug) {
    var body = tbody(id);
    if (!body) return false;
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].dataset.slug === slug) { body.deleteRow(i); return true; }
    }
    return false;
  }
  function addCount(list, delta) {
    var el = document.querySelector('[data-count="' + list + '"]');
    if (el) el.textContent = String(Math.max(0, Number(el.textContent) + delta));
  }
  function prepend(id, row) {
    var body = tbody(id);
    if (!body) return;
    Array.prototype.slice.call(body.querySelectorAll("tr.empty")).forEach(function (r) { r.remove(); });
    row.dataset.slug = row.dataset.slug || "";
    row.className = "fresh";
    body.insertBefore(row, body.firstChild);
  }
  function applyToStatusPage(t) {
    ["live", "offline", "unknown"].forEach(function (list) {
      if (removeRow(list, t.slug)) addCount(list, -1);
    });
    var row = document.createElement("tr");
    row.dataset.slug = t.slug;
    row.appendChild(slugCell(t.slug));
    if (t.type === "online") {
      row.appendChild(textCell(t.title));
      row.appendChild(textCell(t.category));
      row.appendChild(viewersCell(t));
      row.appendChild(timeCell(t.occurred_at));
      prepend("live", row);
      addCount("live", 1);
    } else {
      row.appendChild(timeCell(t.occurred_at));
      prepend("offline", row);
      addCount("offline", 1);
    }
  }
  function applyToStreamerPage(t) {
    if (t.slug !== document.body.dataset.slug) return;
    var state = document.getElementById("state");
    if (state) {
      state.textContent = t.type === "online" ? "live" : "offline";
      state.className = "state " + t.type;
    }
    var since = document.getElementById("state-since");
    if (since) {
      since.textContent = "";
      var time = document.createElement("time");
      time.setAttribute("datetime", t.occurred_at);
      since.appendChild(time);
      localise(since);
    }
    var title = document.getElementById("state-title");
    if (title) title.textContent = t.type === "online" ? (t.title || "—") : "—";
    var category = document.getElementById("state-category");
    if (category) category.textContent = t.type === "online" ? (t.category || "—") : "—";
    var viewers = document.getElementById("state-viewers");
    if (viewers) {
      viewers.textContent = t.type === "online" && typeof t.viewers === "number"
        ? t.viewers.toLocaleString("en-US") : "—";
    }
    var row = document.createElement("tr");
    row.appendChild(timeCell(t.occurred_at));
    row.appendChild(textCell(t.type));
    row.appendChild(textCell(t.source));
    row.appendChild(textCell(t.title));
    prepend("events", row);
  }
  // A live streamer's first viewer count (and the category the poll gave with it) completes what a
  // transition left blank; nothing else is touched, so a reload and this agree.
  function applyCount(c) {
    if (page === "status") {
      var body = tbody("live");
      if (!body) return;
      for (var i = 0; i < body.rows.length; i++) {
        var row = body.rows[i];
        if (row.dataset.slug !== c.slug) continue;
        if (row.cells.length > 2 && !row.cells[2].textContent && c.category) {
          row.cells[2].textContent = c.category;
        }
        var cell = row.querySelector("td.num");
        if (cell) cell.replaceWith(viewersCell(c));
        return;
      }
      return;
    }
    if (c.slug !== document.body.dataset.slug) return;
    var state = document.getElementById("state");
    if (!state || state.textContent !== "live") return;
    var viewers = document.getElementById("state-viewers");
    if (viewers) viewers.textContent = c.viewers.toLocaleString("en-US");
    var category = document.getElementById("state-category");
    if (category && category.textContent === "—" && c.category) category.textContent = c.category;
  }
  function say(text) {
    var el = document.getElementById("live-updates");
    if (el) el.textContent = text;
  }
  localise(document);
  var page = document.body.dataset.page;
  if (!page || typeof EventSource === "undefined") return;
  var source = new EventSource("/api/v1/stream");
  source.onopen = function () { say("Live updates: on"); };
  source.onerror = function () { say("Live updates: reconnecting…"); };
  source.addEventListener("transition", function (event) {
    var t;
    try { t = JSON.parse(event.data); } catch (e) { return; }
    if (page === "status") applyToStatusPage(t);
    else applyToStreamerPage(t);
    say(t.slug + (t.type === "online" ? " went live" : " went offline") + " at " +
      new Date(t.occurred_at).toLocaleTimeString());
  });
  source.addEventListener("viewers", function (event) {
    var c;
    try { c = JSON.parse(event.data); } catch (e) { return; }
    if (typeof c.viewers === "number") applyCount(c);
  });
})();
`;
