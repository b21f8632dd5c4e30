// The preferences page: offer the browser's own zone first (as a one-click choice and at the top of the
// searchable list). Without JavaScript the field still takes any zone typed with the list's suggestions.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  var input = document.querySelector("[data-tz-picker]");
  var list = document.getElementById("tz-list");
  if (!zone || !input || !list) return;
  var known = list.querySelector('option[value="' + zone.replace(/"/g, "") + '"]');
  if (!known) return;
  list.insertBefore(known, list.firstChild);
  known.label = zone + " (your browser)";
  var note = document.querySelector("[data-testid=browser-zone]");
  if (note && input.value !== zone) {
    note.querySelector("[data-browser-zone]").textContent = zone;
    note.hidden = false;
    note.querySelector("[data-use-browser-zone]").addEventListener("click", function () {
      input.value = zone;
      note.hidden = true;
      input.focus();
    });
  }
})();
