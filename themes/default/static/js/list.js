// List screen (UI-02, UI-03): select rows, export the selection, remove builder rows, confirm
// destructive bulk actions. Everything else is plain forms and htmx attributes.
(function () {
  "use strict";

  function selected(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[name="ids"]:checked'));
  }

  function refreshCount() {
    var form = document.getElementById("bulk-form");
    if (!form) { return; }
    var count = selected(form).length;
    var label = form.querySelector("[data-selected-count] strong");
    if (label) { label.textContent = String(count); }
    form.classList.toggle("has-selection", count > 0);
    var merge = form.querySelector("[data-bulk-merge]");
    if (merge) { merge.disabled = count < 2 || count > 3; }
    var all = form.querySelector("[data-select-all]");
    var boxes = form.querySelectorAll('input[name="ids"]');
    if (all) { all.checked = boxes.length > 0 && count === boxes.length; }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      var form = target.closest("form");
      form.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = target.checked; });
      refreshCount();
    } else if (target.name === "ids") {
      refreshCount();
    }
  });

  document.addEventListener("click", function (event) {
    var remove = event.target.closest("[data-remove]");
    if (remove) {
      var item = remove.closest(remove.getAttribute("data-remove"));
      if (item) { item.remove(); }
      return;
    }
    var confirmer = event.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  document.addEventListener("htmx:afterSwap", refreshCount);
  document.addEventListener("DOMContentLoaded", refreshCount);
})();
