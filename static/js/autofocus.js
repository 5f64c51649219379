// A script of Secure Messages' own (htmx does most of the rest). htmx focuses the first element
// marked autofocus in whatever it swaps in, which is how focus lands on a reply form's text or a
// status line after a change. But a live refresh morphs the whole inbox and keeps the panels
// that are open as they are, autofocus and all, so an autofocus that has done its job would pull
// focus back at every live update. Once an element has had focus, it gives its autofocus up.
document.addEventListener("focusin", function (e) {
  e.target.removeAttribute("autofocus");
});
