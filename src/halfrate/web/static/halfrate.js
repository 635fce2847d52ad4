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

  // Times are sent in UTC; each reader sees them in their own time zone.
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (node) {
      var at = new Date(node.getAttribute("datetime"));
      if (!isNaN(at)) {
        node.textContent = at.toLocaleString(undefined, {
          weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
        });
      }
    });
  }
  localTimes(document);
  document.addEventListener("htmx:afterSettle", function () { localTimes(document); });

  // When the job ends while its page is open, say so.
  document.addEventListener("htmx:afterSwap", function (event) {
    var finished = event.detail.target.querySelector
      ? document.querySelector("#progress[data-finished]") : null;
    var notice = document.getElementById("finished-notice");
    if (finished && notice && notice.hidden) {
      var failed = parseInt(finished.getAttribute("data-failed") || "0", 10);
      notice.textContent = finished.getAttribute("data-finished") === "cancelled"
        ? "This job was cancelled. Rows already answered are kept."
        : failed > 0
          ? "Done: " + failed.toLocaleString() + (failed === 1 ? " row" : " rows")
            + " failed. You can re-run them."
          : "Done: every row has its answer.";
      notice.hidden = false;
    }
  });
})();
