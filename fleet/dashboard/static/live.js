// Refreshes the page's content in place every few seconds, unless the
// user is typing in a form. The page reads fine without it.
(function () {
  "use strict";
  var every = 2000;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA");
  }
  function refresh() {
    if (busy() || document.hidden) { return; }
    fetch(location.href, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var next = doc.getElementById("live"), cur = document.getElementById("live");
      if (next && cur && !busy()) { cur.innerHTML = next.innerHTML; }
    }).catch(function () { /* serve restarting: try again at the next tick */ });
  }
  setInterval(refresh, every);
})();
