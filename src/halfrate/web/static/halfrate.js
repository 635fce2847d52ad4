// halfrate's web page: small helpers on top of htmx. No inline script anywhere (the page's
// Content-Security-Policy allows scripts from this site only).
(function () {
  "use strict";

  // A click on a column name puts {column} into the prompt where the cursor is.
  document.addEventListener("click", function (event) {
    var chip = event.target.closest("[data-insert]");
    if (!chip) return;
    var box = document.getElementById(chip.getAttribute("aria-controls"));
    if (!box) return;
    var text = chip.getAttribute("data-insert");
    var start = box.selectionStart == null ? box.value.length : box.selectionStart;
    var end = box.selectionEnd == null ? box.value.length : box.selectionEnd;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + text.length;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Forms that ask first (Cancel job).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A spreadsheet dropped anywhere on the upload box goes into its file field.
  document.addEventListener("DOMContentLoaded", function () {
    var zone = document.querySelector("[data-dropzone]");
    if (!zone) return;
    var input = zone.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        zone.requestSubmit();
      }
    });
  });

  // When the job ends while its page is open, say so.
  document.addEventListener("htmx:afterSwap", function (event) {
    var finished = event.detail.target.querySelector
      ? document.querySelector("#progress[data-finished]") : null;
    var notice = document.getElementById("finished-notice");
    if (finished && notice && notice.hidden) {
      notice.textContent = finished.getAttribute("data-finished") === "cancelled"
        ? "This job was cancelled." : "Done: every row has its answer.";
      notice.hidden = false;
    }
  });
})();
