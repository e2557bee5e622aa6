// Centralita's own browser code. Loaded as a file (the CSP forbids inline scripts).
// Progressive enhancement only: every page works without it.
(function () {
  "use strict";

  document.addEventListener("htmx:responseError", function (event) {
    // Mark the target of a failed htmx request so that it does not fail silently.
    var target = event.detail.target;
    if (target && event.detail.xhr && event.detail.xhr.status >= 400) {
      target.setAttribute("aria-invalid", "true");
    }
  });

  // Reply text being written to the customer, shown as a bubble at the end of the
  // conversation until the stored message arrives.
  var typing = "";

  function showTyping() {
    var list = document.querySelector("#conversation .transcript");
    if (!list) return;
    var bubble = document.getElementById("typing");
    if (!typing) {
      if (bubble) bubble.remove();
      return;
    }
    if (!bubble) {
      bubble = document.createElement("li");
      bubble.id = "typing";
      bubble.className = "msg msg-ai typing";
      list.appendChild(bubble);
    }
    bubble.textContent = typing; // text, never markup
  }

  var STATE_KINDS = ["taken_over", "handed_back", "closed"];

  function changed(kind) {
    htmx.trigger(document.body, "live-update");
    if (STATE_KINDS.indexOf(kind) >= 0) htmx.trigger(document.body, "call-state");
  }

  // Follows the page's event stream: `data-events` is the URL, `data-after` the last
  // event the page already shows, `data-call` limits staff events to one call. The
  // browser sends Last-Event-ID itself when it reconnects.
  function follow(el) {
    if (!window.EventSource || !window.htmx) return;
    var url = el.getAttribute("data-events");
    var after = el.getAttribute("data-after");
    var call = el.getAttribute("data-call");
    if (after) url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after);
    var source = new EventSource(url);
    source.onopen = function () { document.body.classList.add("is-live"); };
    source.onerror = function () { document.body.classList.remove("is-live"); };
    // Staff stream: one JSON object per event.
    source.onmessage = function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      if (call && String(ev.call_id) !== call && ev.kind !== "action_decided") return;
      changed(ev.kind);
    };
    // Customer stream.
    source.addEventListener("typing", function (e) {
      try { typing += JSON.parse(e.data).text; } catch (_) { return; }
      showTyping();
    });
    source.addEventListener("update", function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      if (ev.kind === "message" && ev.role !== "customer") typing = "";
      changed(ev.kind);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.querySelector("[data-events]");
    if (live) follow(live);
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "conversation") showTyping();
  });

  // Enter sends, Shift+Enter adds a line, in message boxes.
  document.addEventListener("keydown", function (e) {
    var box = e.target;
    if (e.key !== "Enter" || e.shiftKey || !box.matches || !box.matches(".composer textarea")) return;
    e.preventDefault();
    if (box.form && box.value.trim()) box.form.requestSubmit();
  });
})();
