// The portal's modal dialog (<dialog id="portal-dialog">), driven by HTMX.
//
// A link with hx-get and hx-target="#dialog-content" loads a confirmation into the
// dialog; once swapped in, the dialog opens as a modal (the rest of the page goes
// inert, Escape closes it) and focus moves into it: to the first field with an
// error, else to an element marked autofocus (a field to fill in), else to the
// dialog's heading, so that a screen reader reads the title and Enter commits
// nothing (never to the button that pays or cancels). When a form inside the dialog
// gets a response swapped somewhere else (the subscription card), the dialog closes
// and focus goes back to where it was, or to the swapped card's heading.
// Without JavaScript the same links open the confirmation as a page of its own.
(function () {
  "use strict";

  var opener = null;
  var lastTarget = null;

  function dialog() {
    return document.getElementById("portal-dialog");
  }

  function focusInside(d) {
    var el = d.querySelector("[aria-invalid='true']");
    if (el && !el.matches("input, select, textarea")) {
      el = el.querySelector("input:not([type=hidden]), select, textarea") || el;
    }
    el = el || d.querySelector("[autofocus]:not([type=submit])");
    if (!el) {
      el = d.querySelector("#dialog-title") || d.querySelector("h1, h2");
      if (el && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    }
    if (el) el.focus();
  }

  function open(d) {
    if (!d.open) {
      opener = document.activeElement;
      d.showModal();
    }
    focusInside(d);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var d = dialog();
    if (!d) return;
    var target = event.detail.target;
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (target && d.contains(target)) {
      open(d);
    } else if (d.open && source && d.contains(source)) {
      // An outerHTML swap replaced the target: find its successor by id when closing.
      lastTarget = target && target.id;
      d.close();
    }
  });

  document.addEventListener("click", function (event) {
    var d = dialog();
    if (!d || !d.open) return;
    // A close button, or a click on the backdrop (the dialog element itself).
    if (event.target.closest("[data-dialog-close]") || event.target === d) {
      event.preventDefault();
      d.close();
    }
  });

  document.addEventListener(
    "close",
    function (event) {
      var d = dialog();
      if (event.target !== d) return;
      document.getElementById("dialog-content").innerHTML = "";
      var back = opener && document.body.contains(opener) ? opener : null;
      var swapped = lastTarget && document.getElementById(lastTarget);
      if (!back && swapped) {
        back = swapped.querySelector("h2, h1") || swapped;
        if (!back.hasAttribute("tabindex")) back.setAttribute("tabindex", "-1");
      }
      if (back) back.focus();
      opener = null;
      lastTarget = null;
    },
    true
  );
})();
