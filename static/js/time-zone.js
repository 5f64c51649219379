// The inbox shows dates in the practice's time zone and says which in small text
// (partials/inbox's .time-zone note; #inbox's data-time-zone is the zone's IANA name). Where the
// browser is set to another zone, a time could be read as local: this marks the page
// (html.time-zone-elsewhere) so the stylesheet makes the note stand out. The mark is on <html>,
// which live refreshes of the inbox never replace. Without JavaScript, or where the browser
// does not say its zone, the note stays as it is: always there, never loud.
(function () {
  var inbox = document.getElementById("inbox");
  var here;
  try {
    here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (inbox && here && here !== inbox.getAttribute("data-time-zone")) {
    document.documentElement.classList.add("time-zone-elsewhere");
  }
})();
