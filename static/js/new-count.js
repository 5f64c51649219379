// The heading says how many messages are new to the reader (partials/new-count); a live refresh
// swaps that count in, out of band, but no swap can reach <title>. This keeps the title's count
// the heading's, so a tab in the background shows it too. Without JavaScript the title is the
// server's, right at every page load.
(function () {
  var base = document.title.replace(/ \(\d+ new\)$/, "");
  var shown = null;
  function update() {
    var count = document.getElementById("new-count");
    if (!count) return;
    var n = parseInt(count.getAttribute("data-count"), 10) || 0;
    if (n === shown) return;
    shown = n;
    document.title = n > 0 ? base + " (" + n + " new)" : base;
  }
  update();
  new MutationObserver(update).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-count"] });
})();
