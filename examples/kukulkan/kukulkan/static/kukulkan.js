/* Kukulkan's page: live events over liveobs.connect, server-rendered patches, the error reference. */
(function () {
  "use strict";
  var board = document.getElementById("board");
  var status = document.getElementById("status");
  var banner = document.getElementById("error-banner");
  var notice = document.getElementById("notice");
  var scheme = location.protocol === "https:" ? "wss:" : "ws:";

  function show(el, text) { el.textContent = text; el.hidden = !text; }

  function apply(message) {
    if (message.patch && message.patch.target === "board") board.innerHTML = message.patch.html;
    if (message.notice) show(notice, message.notice);
  }

  var live = liveobs.connect(scheme + "//" + location.host + "/live", {
    onOpen: function () { status.textContent = "live"; status.setAttribute("data-state", "live"); },
    onMessage: function (message, reply) {
      if (reply && reply.ok !== false) show(banner, "");
      apply(message);
    }
  });

  // The server answered an event with an error: show the reference the operator looks up.
  document.addEventListener("liveobs:error", function (ev) {
    if (ev.detail && ev.detail.reference) {
      show(banner, "Something went wrong \u2014 reference " + ev.detail.reference);
      banner.setAttribute("data-reference", ev.detail.reference);
    }
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-event]");
    if (!button) return;
    ev.preventDefault();
    show(notice, "");
    var payload = {};
    if (button.dataset.card) payload.card_id = button.dataset.card;
    if (button.dataset.column) payload.column = button.dataset.column;
    live.send(button.dataset.event, payload);
  });

  document.getElementById("add-card").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("new-title");
    live.send("add_card", { title: input.value, column: "todo" });
    input.value = "";
  });

  document.getElementById("upload").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = new FormData(ev.target);
    fetch("/cards/" + encodeURIComponent(form.get("card_id")) + "/attachments", {
      method: "POST", body: form, credentials: "same-origin"
    }).then(function (r) { return r.json(); }).then(function (body) { show(notice, body.message || ""); });
  });
})();
