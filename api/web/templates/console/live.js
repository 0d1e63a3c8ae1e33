// The live fieldwork monitor counts itself again every 15 seconds without a reload: it asks
// for the same page and puts the new numbers (#live) and the time they were counted
// (#counted-at) in place of the old. Nothing happens while the tab is hidden, while the
// reader is inside the numbers (focus or a text selection there: a table would move under
// them), or after a failed request (the page says so; the link reloads it). Without this
// script the page works the same, reloaded by hand. Allowed by its hash in the page's
// Content-Security-Policy: any change here changes the hash, which the server computes.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var counted = document.getElementById("counted-at");
  if (!live || !counted || !window.fetch || !window.DOMParser) { return; }
  var EVERY = 15000;

  function busy() {
    var selection = window.getSelection && window.getSelection();
    return live.contains(document.activeElement) ||
      (selection && !selection.isCollapsed && live.contains(selection.anchorNode));
  }
  function again() { window.setTimeout(refresh, EVERY); }
  function refresh() {
    if (document.hidden || busy()) { again(); return; }
    fetch(window.location.href, {credentials: "same-origin", cache: "no-store"})
      .then(function (answer) {
        if (!answer.ok) { throw new Error(String(answer.status)); }
        return answer.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var numbers = page.getElementById("live");
        var time = page.getElementById("counted-at");
        if (numbers && time) {
          live.replaceChildren.apply(live, Array.prototype.slice.call(numbers.childNodes));
          counted.replaceChildren.apply(counted, Array.prototype.slice.call(time.childNodes));
          counted.setAttribute("data-at", time.getAttribute("data-at") || "");
        }
        again();
      })
      .catch(function () {
        counted.setAttribute("data-stale", "true");
        counted.appendChild(document.createTextNode(
          " · 自动刷新已停止，请重新载入本页 Automatic refresh stopped: reload the page"));
      });
  }
  again();
}());
