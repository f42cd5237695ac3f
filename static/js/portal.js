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
  // Escape closes an open menu; when focus was in it, focus goes back to its button.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      var inside = menu.contains(document.activeElement);
      menu.removeAttribute("open");
      if (inside) menu.querySelector("summary").focus();
    });
  });

  // The top-up form: a preset and another amount exclude each other (without JS the
  // typed amount wins). Delegated, so a form swapped in by HTMX works too.
  document.addEventListener("change", function (event) {
    var form = event.target.closest("#topup-form");
    if (!form || !event.target.matches("[data-preset]")) return;
    var custom = form.querySelector("[data-custom-amount]");
    if (custom) custom.value = "";
  });
  document.addEventListener("input", function (event) {
    if (!event.target.matches("#topup-form [data-custom-amount]") || !event.target.value) return;
    event.target.form.querySelectorAll("[data-preset]").forEach(function (radio) {
      radio.checked = false;
    });
  });
})();
