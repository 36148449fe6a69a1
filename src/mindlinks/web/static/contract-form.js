/* Mind-Links draft contract form: the live preview and the payment-terms sections.
 *
 * The form already previews without this script: its "Update the preview" button
 * posts the form into the preview frame. This script presses that button for the
 * user a moment after they stop typing (and once on load), and shows only the
 * inputs of the chosen kind of payment terms. No dependencies, no inline code.
 */
(function () {
  "use strict";

  var DELAY_MS = 600;

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-live-preview]");
    if (!form || !form.requestSubmit) {
      return;
    }
    var button = form.querySelector("[data-preview-button]");
    var frame = document.getElementById("contract-preview");
    var timer = null;

    function refresh() {
      timer = null;
      if (button) {
        form.requestSubmit(button);
      }
    }

    function later() {
      if (timer !== null) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(refresh, DELAY_MS);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);

    var choices = form.querySelectorAll("[data-terms-choice]");
    var sections = form.querySelectorAll("[data-terms]");

    function showTerms() {
      var chosen = null;
      choices.forEach(function (choice) {
        if (choice.checked) {
          chosen = choice.value;
        }
      });
      sections.forEach(function (section) {
        var kinds = section.getAttribute("data-terms").split(" ");
        section.hidden = chosen !== null && kinds.indexOf(chosen) === -1;
      });
    }

    choices.forEach(function (choice) {
      choice.addEventListener("change", showTerms);
    });
    showTerms();

    // A new draft's frame starts empty: fill it now. A saved draft's frame shows
    // the saved version already.
    if (frame && frame.getAttribute("src") === "about:blank") {
      refresh();
    }
  });
})();
