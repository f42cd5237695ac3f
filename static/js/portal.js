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

  // A form that comes back with errors takes the reader to the first one: the first
  // invalid field (aria-invalid; in a fieldset, its first input), else the form's error
  // summary ([data-error-summary]), is focused (a screen reader reads the field with its
  // message) and scrolled, with its label and message, to the middle of the screen. On
  // a page load (a form posted without HTMX) and after an HTMX swap; in the dialog,
  // dialog.js does it. Without JavaScript the server's autofocus does the same.
  var FIELD = "input:not([type=hidden]):not([disabled]), select, textarea";
  var INVALID = "[aria-invalid='true']";

  function within(root, selector) {
    return root.matches && root.matches(selector) ? root : root.querySelector(selector);
  }

  function showFirstError(root) {
    var target = within(root, INVALID);
    if (target && !target.matches(FIELD)) target = target.querySelector(FIELD) || target;
    target = target || within(root, "[data-error-summary]");
    if (!target || target.closest("dialog")) return;
    if (!target.matches(FIELD) && !target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: true });
    // A radio of preset cards is a 1px sr-only box: scroll its whole field into view.
    (target.closest("fieldset, [id^='div_']") || target).scrollIntoView({ block: "center" });
  }
  showFirstError(document);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target instanceof Element) showFirstError(event.target);
  });
})();
