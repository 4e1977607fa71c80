// Kanban board (UI-06): drag a card (SortableJS) or use its "move to" select; the server
// decides through the record service. A refused move puts the card back and says why; a move
// that needs a reason asks for one in the modal and tries again.
(function () {
  "use strict";

  var board = document.getElementById("kanban");
  if (!board || !board.hasAttribute("data-can-move")) { return; }
  var texts = document.getElementById("kanban-text");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function toast(message, kind) {
    var area = document.getElementById("toasts");
    if (!area) { return; }
    var node = document.createElement("div");
    node.className = "toast toast-" + (kind || "error");
    node.setAttribute("role", kind === "ok" ? "status" : "alert");
    node.textContent = message;
    area.appendChild(node);
    setTimeout(function () { node.remove(); }, 6000);
  }

  function column(stage) {
    return board.querySelector('.kanban-column[data-stage="' + CSS.escape(stage) + '"]');
  }

  // A column shows "No records" exactly when it has no card (after every move or put-back).
  function refreshEmpty(list) {
    var empty = list.querySelector("[data-empty]");
    var hasCards = list.querySelector(".kanban-card") !== null;
    if (empty && hasCards) { empty.remove(); }
    if (!empty && !hasCards) {
      empty = document.createElement("p");
      empty.className = "kanban-empty";
      empty.setAttribute("data-empty", "");
      empty.textContent = texts.getAttribute("data-empty");
      list.appendChild(empty);
    }
  }

  function applyFigures(figures) {
    Object.keys(figures || {}).forEach(function (stage) {
      var col = column(stage);
      if (!col) { return; }
      var figure = figures[stage];
      var count = col.querySelector("[data-count]");
      if (count) { count.textContent = String(figure.count) + (figure.exact ? "" : "+"); }
      var total = col.querySelector("[data-total]");
      if (total && figure.total) { total.textContent = figure.total; }
    });
  }

  function cardForm(card) { return card.querySelector("[data-move-form]"); }

  // Put the card where it came from (after a refusal).
  function putBack(card, from, index) {
    var list = column(from).querySelector("[data-cards]");
    var reference = list.querySelectorAll(".kanban-card")[index] || null;
    if (reference === card) { return; }
    var left = card.parentNode;
    list.insertBefore(card, reference);
    refreshEmpty(list);
    if (left && left !== list) { refreshEmpty(left); }
    var select = card.querySelector("select[name=to]");
    if (select) { select.value = from; }
  }

  function askReason(stageLabel, retry, cancel) {
    var modal = document.getElementById("modal");
    var body = document.getElementById("modal-body");
    var template = document.getElementById("kanban-reason");
    body.replaceChildren(template.content.cloneNode(true));
    var title = body.querySelector("[data-reason-title]");
    title.textContent = texts.getAttribute("data-reason-for").replace("{stage}", stageLabel);
    var answered = false;
    body.querySelector("[data-reason-form]").addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = body.querySelector("textarea[name=reason]").value.trim();
      if (!reason) { return; }
      answered = true;
      modal.close();
      retry(reason);
    });
    modal.addEventListener("close", function onClose() {
      modal.removeEventListener("close", onClose);
      body.replaceChildren();
      if (!answered) { cancel(); }
    });
    modal.showModal();
    body.querySelector("textarea").focus();
  }

  function move(card, from, to, index, reason) {
    var form = cardForm(card);
    var data = new FormData(form);
    data.set("to", to);
    data.set("from", from);
    if (reason) { data.set("reason", reason); }
    card.classList.add("is-moving");
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (payload) {
        return { ok: response.ok, status: response.status, payload: payload };
      });
    }).then(function (answer) {
      card.classList.remove("is-moving");
      if (answer.ok) {
        card.setAttribute("data-version", String(answer.payload.version));
        form.querySelector("input[name=version]").value = String(answer.payload.version);
        form.querySelector("input[name=from]").value = to;
        var select = form.querySelector("select[name=to]");
        if (select) { select.value = to; }
        applyFigures(answer.payload.columns);
        if (answer.payload.message) { toast(answer.payload.message, "ok"); }
        return;
      }
      putBack(card, from, index);
      if (answer.status === 422 && answer.payload.reason_required && !reason) {
        askReason(answer.payload.stage || to, function (given) {
          var list = column(to).querySelector("[data-cards]");
          var left = card.parentNode;
          list.insertBefore(card, list.firstChild);
          refreshEmpty(list);
          refreshEmpty(left);
          move(card, from, to, index, given);
        }, function () {});
        return;
      }
      toast(answer.payload.error || texts.getAttribute("data-failed"));
    }).catch(function () {
      card.classList.remove("is-moving");
      putBack(card, from, index);
      toast(texts.getAttribute("data-failed"));
    });
  }

  // Drag and drop between columns.
  if (window.Sortable) {
    board.querySelectorAll("[data-cards]").forEach(function (list) {
      window.Sortable.create(list, {
        group: "kanban",
        animation: 120,
        draggable: ".kanban-card",
        filter: "select, button, input",
        preventOnFilter: false,
        onEnd: function (event) {
          if (event.from === event.to) { return; }
          refreshEmpty(event.to);
          refreshEmpty(event.from);
          move(event.item, event.from.getAttribute("data-stage"),
               event.to.getAttribute("data-stage"), event.oldIndex, null);
        }
      });
    });
  }

  // The keyboard / phone fallback: the card's own "move to" form.
  board.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-move-form]");
    if (!form) { return; }
    event.preventDefault();
    var card = form.closest(".kanban-card");
    var from = form.querySelector("input[name=from]").value;
    var to = form.querySelector("select[name=to]").value;
    if (from === to) { return; }
    var fromList = column(from).querySelector("[data-cards]");
    var index = Array.prototype.indexOf.call(fromList.querySelectorAll(".kanban-card"), card);
    var target = column(to).querySelector("[data-cards]");
    target.insertBefore(card, target.firstChild);
    refreshEmpty(target);
    refreshEmpty(fromList);
    move(card, from, to, index, null);
    card.focus();
  });
})();
