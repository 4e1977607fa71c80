// Small behaviours htmx does not cover: the phone-width menu, reference pickers, the modal,
// forms that return to the current (possibly htmx-pushed) address.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-toggle-sidebar]");
    if (toggle) {
      var open = document.body.classList.toggle("sidebar-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }
    var option = event.target.closest("[data-pick-id]");
    if (option) {
      var picker = option.closest("[data-picker]");
      picker.querySelector("[data-picker-value]").value = option.getAttribute("data-pick-id");
      var search = picker.querySelector(".picker-search");
      search.value = option.getAttribute("data-pick-label");
      picker.querySelector(".picker-results").innerHTML = "";
      // A search still on its way must not reopen the list over what comes next.
      picker.dataset.picked = search.value;
      if (window.htmx) { window.htmx.trigger(search, "htmx:abort"); }
      search.dispatchEvent(new Event("picked", { bubbles: true }));
      return;
    }
    if (!event.target.closest("[data-picker]")) {
      document.querySelectorAll(".picker-results").forEach(function (list) { list.innerHTML = ""; });
    }
    var close = event.target.closest("[data-close-modal]");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog) { dialog.close(); }
    }
  });

  // htmx may have pushed another address since the page was drawn (a re-sorted list, the
  // next page): a form that comes back here (the language switch) returns to that one.
  document.addEventListener("submit", function (event) {
    var inputs = event.target.querySelectorAll ? event.target.querySelectorAll("[data-current-address]") : [];
    inputs.forEach(function (input) { input.value = window.location.pathname + window.location.search; });
  });

  // Clearing a picker's text clears its value, so "no customer" can be chosen.
  document.addEventListener("input", function (event) {
    if (event.target.classList && event.target.classList.contains("picker-search")) {
      var picker = event.target.closest("[data-picker]");
      delete picker.dataset.picked;
      if (!event.target.value) { picker.querySelector("[data-picker-value]").value = ""; }
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("picker-results")) {
      var picker = target.closest("[data-picker]");
      if (picker && picker.dataset.picked !== undefined) { event.detail.shouldSwap = false; }
    }
  });

  // A fragment swapped into the modal opens it; an empty one closes it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var modal = document.getElementById("modal");
    if (event.detail.target && event.detail.target.id === "modal-body") {
      if (event.detail.target.innerHTML.trim()) { modal.showModal(); } else { modal.close(); }
    }
    var toasts = document.getElementById("toasts");
    if (event.detail.target === toasts) {
      var last = toasts.lastElementChild;
      setTimeout(function () { if (last) { last.remove(); } }, 6000);
    }
  });

  document.addEventListener("gx:close-modal", function () {
    var modal = document.getElementById("modal");
    if (modal.open) { modal.close(); }
  });
})();
