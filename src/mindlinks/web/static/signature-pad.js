/* Mind-Links signing page: a canvas signature pad and the typed-signature preview.
 *
 * Progressive enhancement: without this script the page offers the typed signature
 * only (the "draw" choice stays hidden). The pad draws with pointer events (mouse,
 * touch, pen), keeps the PNG data URL of the canvas in a hidden field after every
 * stroke, and "Clear" empties both. No dependencies, no inline code (the page's
 * Content-Security-Policy allows scripts from this origin only).
 */
(function () {
  "use strict";

  function setUpPad(container) {
    var canvas = container.querySelector("[data-pad-canvas]");
    var output = container.querySelector("[data-pad-value]");
    var clear = container.querySelector("[data-pad-clear]");
    if (!canvas || !output || !canvas.getContext) {
      return;
    }
    var context = canvas.getContext("2d");
    var drawing = false;
    var last = null;
    var inked = false;

    context.lineWidth = 2.6;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#0b1f4f";

    function point(event) {
      // The canvas keeps its own resolution whatever size CSS shows it at.
      var box = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - box.left) * (canvas.width / box.width),
        y: (event.clientY - box.top) * (canvas.height / box.height),
      };
    }

    function save() {
      output.value = inked ? canvas.toDataURL("image/png") : "";
    }

    canvas.addEventListener("pointerdown", function (event) {
      if (event.button !== undefined && event.button > 0) {
        return;
      }
      event.preventDefault();
      drawing = true;
      last = point(event);
      if (canvas.setPointerCapture) {
        canvas.setPointerCapture(event.pointerId);
      }
      // A dot, so a tap leaves a mark too.
      context.beginPath();
      context.arc(last.x, last.y, context.lineWidth / 2, 0, Math.PI * 2);
      context.fillStyle = context.strokeStyle;
      context.fill();
      inked = true;
    });

    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) {
        return;
      }
      event.preventDefault();
      var next = point(event);
      context.beginPath();
      context.moveTo(last.x, last.y);
      context.lineTo(next.x, next.y);
      context.stroke();
      last = next;
    });

    function finish(event) {
      if (!drawing) {
        return;
      }
      drawing = false;
      last = null;
      if (canvas.releasePointerCapture && event.pointerId !== undefined) {
        try {
          canvas.releasePointerCapture(event.pointerId);
        } catch (ignored) {
          /* the capture was already released */
        }
      }
      save();
    }

    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    canvas.addEventListener("pointerleave", finish);

    if (clear) {
      clear.addEventListener("click", function () {
        context.clearRect(0, 0, canvas.width, canvas.height);
        inked = false;
        save();
        canvas.focus();
      });
    }
  }

  function setUpChoice(form) {
    var choices = form.querySelectorAll("[data-signature-choice]");
    var panels = form.querySelectorAll("[data-signature-kind]");
    if (!choices.length) {
      return;
    }
    form.querySelectorAll("[data-needs-script]").forEach(function (element) {
      element.hidden = false;
    });

    function show() {
      var chosen = "typed";
      choices.forEach(function (choice) {
        if (choice.checked) {
          chosen = choice.value;
        }
      });
      panels.forEach(function (panel) {
        panel.hidden = panel.getAttribute("data-signature-kind") !== chosen;
      });
    }

    choices.forEach(function (choice) {
      choice.addEventListener("change", show);
    });
    show();
  }

  function setUpTypedPreview(form) {
    var input = form.querySelector("input[name='typed_name']");
    var preview = form.querySelector("[data-typed-preview]");
    if (!input || !preview) {
      return;
    }
    input.addEventListener("input", function () {
      preview.textContent = input.value;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-signature-pad]").forEach(setUpPad);
    var form = document.getElementById("sign-form");
    if (form) {
      setUpChoice(form);
      setUpTypedPreview(form);
    }
  });
})();
