// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Close an open menu (<details data-menu>) when clicking elsewhere or pressing Escape.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details[data-menu]"));

    // Dismiss a notification (also ones swapped in later by HTMX).
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var note = dismiss.closest("[data-notification]");
      if (note) note.remove();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });
})();
