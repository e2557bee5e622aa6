// Centralita's own browser code. Loaded as a file (the CSP forbids inline scripts).
// Progressive enhancement only: every page works without it.
(function () {
  "use strict";

  document.addEventListener("htmx:responseError", function (event) {
    // A refused htmx request must not fail silently: show the error page's message
    // (read as text, never inserted as markup) above the part that was to change.
    var target = event.detail.target;
    var xhr = event.detail.xhr;
    if (!target || !xhr || xhr.status < 400) return;
    target.setAttribute("aria-invalid", "true");
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var card = doc.querySelector(".error-card");
      if (card) text = Array.prototype.slice.call(card.querySelectorAll("h1, p:not(.status)"), 0, 2)
        .map(function (n) { return n.textContent.trim(); }).join(" ");
    } catch (_) { /* keep the plain marker */ }
    if (!text) return;
    var old = target.parentNode && target.parentNode.querySelector(":scope > .htmx-error");
    if (old) old.remove();
    var alert = document.createElement("p");
    alert.className = "alert htmx-error";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    target.parentNode.insertBefore(alert, target);
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

  var STATE_KINDS = ["taken_over", "handed_back", "closed", "transferred"];

  // Bursts of events become one refresh, at most every 200 ms, and the last event of a
  // burst is always followed by one (a plain throttle would drop it).
  var pending = {};
  function refresh(name, unless) {
    if (pending[name]) return;
    pending[name] = setTimeout(function () {
      pending[name] = null;
      if (!unless || !unless()) htmx.trigger(document.body, name);
    }, 200);
  }

  // The controls (staff) or the message box (customer) carry `data-state`; they are
  // redrawn only when an event says the state is now different from what they show —
  // checked when the redraw is due, so a change this page made itself (already drawn
  // from its own form's answer) costs nothing and does not replace a box being typed in.
  function stateIsStale(ev) {
    var el = document.querySelector("[data-state]");
    if (!el) return true;
    var have = el.getAttribute("data-state");
    if (have === "open" || have === "closed") return ev.kind === "closed" && have !== "closed";
    var status = have.split(":")[0];
    if (ev.kind === "closed") return status !== "closed";
    if (ev.kind === "handed_back") return status !== "ai";
    if (ev.kind === "taken_over") return have !== "human:" + (ev.data && ev.data.user_id);
    if (ev.kind === "transferred") return true;
    return false;
  }

  // Events after which a call's customer panel may show something new (its record,
  // a payment, a ticket, an approved action, the caller verified).
  var CUSTOMER_KINDS = ["customer_changed", "call_updated", "action_decided", "closed", "ticket_opened"];

  function changed(ev) {
    refresh("live-update");
    if (CUSTOMER_KINDS.indexOf(ev.kind) >= 0) refresh("customer-update");
    if (STATE_KINDS.indexOf(ev.kind) >= 0) {
      refresh("call-state", function () { return !stateIsStale(ev); });
    }
  }

  // A redraw must not eat what someone is doing: text typed in a box and a chosen
  // option survive a refresh (but not the answer to the form itself, which starts
  // afresh).
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    kept = null;
    var target = e.detail.target;
    var verb = e.detail.requestConfig && e.detail.requestConfig.verb;
    if (!target || !target.querySelectorAll || verb !== "get") return;
    var focused = document.activeElement;
    kept = { boxes: [], checked: [], focus: null };
    target.querySelectorAll("textarea").forEach(function (box) {
      if (box.value) kept.boxes.push({ name: box.name, value: box.value });
      if (box === focused) kept.focus = box.name;
    });
    target.querySelectorAll("input[type=radio]:checked").forEach(function (r) {
      kept.checked.push({ name: r.name, value: r.value });
    });
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!kept) return;
    var target = e.detail.target;
    kept.boxes.forEach(function (k) {
      var box = target.querySelector('textarea[name="' + k.name + '"]');
      if (box && !box.value) box.value = k.value;
    });
    kept.checked.forEach(function (k) {
      target.querySelectorAll('input[type=radio]').forEach(function (r) {
        if (r.name === k.name && r.value === k.value) r.checked = true;
      });
    });
    if (kept.focus) {
      var again = target.querySelector('textarea[name="' + kept.focus + '"]');
      if (again) again.focus();
    }
    kept = null;
  });

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
      changed(ev);
    };
    // Customer stream.
    source.addEventListener("typing", function (e) {
      try { typing += JSON.parse(e.data).text; } catch (_) { return; }
      showTyping();
    });
    source.addEventListener("update", function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      if (ev.kind === "message" && ev.role !== "customer") {
        typing = "";
        showTyping();
      }
      changed(ev);
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

  // Canned responses in a call's reply box. The picker's options carry each response's
  // shortcut and its text already filled in (and escaped) by the server; the script only
  // moves that text into the box, as text. Typing "/" and the start of a shortcut lists
  // the matches under the box: Enter or Tab takes the highlighted one, a click takes
  // any, Escape closes the list. Without the script, "Insert" posts the form and the
  // server draws the box with the response added.
  var cannedList = null, cannedActive = 0;

  function cannedOptions() {
    var pick = document.getElementById("canned-pick");
    return pick ? Array.prototype.slice.call(pick.options) : [];
  }

  // The "/word" just before the caret, if the caret ends one.
  function slashWord(box) {
    var before = box.value.slice(0, box.selectionStart);
    var m = /(^|\s)\/([a-z0-9_-]*)$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, word: m[2] } : null;
  }

  function closeCanned() {
    if (cannedList) cannedList.remove();
    cannedList = null;
  }

  function insertText(box, start, end, text) {
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    var caret = start + text.length;
    box.focus();
    box.setSelectionRange(caret, caret);
  }

  function takeCanned(box, option) {
    var at = slashWord(box);
    var text = option.getAttribute("data-text") || "";
    if (at) insertText(box, at.start, box.selectionStart, text);
    else insertText(box, box.selectionStart, box.selectionEnd, text);
    closeCanned();
  }

  function showCanned(box) {
    var at = slashWord(box);
    var matches = at ? cannedOptions().filter(function (o) {
      return (o.getAttribute("data-shortcut") || "").indexOf(at.word) === 0;
    }) : [];
    if (!matches.length) { closeCanned(); return; }
    if (!cannedList) {
      cannedList = document.createElement("ul");
      cannedList.className = "canned-suggest";
      cannedList.id = "canned-suggest";
      cannedList.setAttribute("role", "listbox");
      box.closest("label").insertAdjacentElement("afterend", cannedList);
    }
    cannedActive = Math.min(cannedActive, matches.length - 1);
    cannedList.textContent = "";
    matches.forEach(function (o, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === cannedActive ? "true" : "false");
      li.textContent = "/" + o.getAttribute("data-shortcut") + " · " + o.textContent.split(" · /")[0]; // text, never markup
      li.addEventListener("mousedown", function (e) { e.preventDefault(); takeCanned(box, o); });
      li.option = o;
      cannedList.appendChild(li);
    });
  }

  document.addEventListener("input", function (e) {
    if (e.target && e.target.id === "reply-box") {
      cannedActive = 0;
      showCanned(e.target);
    }
  });

  // Captured before the "Enter sends" handler, so Enter picks rather than sends while
  // the list is open.
  document.addEventListener("keydown", function (e) {
    var box = e.target;
    if (!cannedList || !box || box.id !== "reply-box") return;
    var items = cannedList.querySelectorAll("li");
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      cannedActive = (cannedActive + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      showCanned(box);
    } else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
      takeCanned(box, items[cannedActive].option);
    } else if (e.key === "Escape") {
      closeCanned();
    } else {
      return;
    }
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);

  document.addEventListener("click", function (e) {
    var button = e.target && e.target.closest && e.target.closest("#canned-insert");
    var box = document.getElementById("reply-box");
    var pick = document.getElementById("canned-pick");
    if (!button || !box || !pick || pick.selectedIndex < 0) return;
    e.preventDefault();
    e.stopPropagation();
    var sep = box.value && !/\s$/.test(box.value.slice(0, box.selectionStart)) ? " " : "";
    insertText(box, box.selectionStart, box.selectionEnd, sep + (pick.options[pick.selectedIndex].getAttribute("data-text") || ""));
  }, true);

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (cannedList && e.detail.target && e.detail.target.contains(cannedList)) closeCanned();
  });

  // The staff assistant: the form posts to its stream URL and the reply is written
  // in as it arrives (text only); the final answer is HTML the server drew and
  // escaped. Without fetch streaming the form posts as a plain page.
  function assistantEvent(block, out, reply) {
    var name = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).replace(/^ /, "");
    });
    var body;
    try { body = JSON.parse(data); } catch (_) { return; }
    if (name === "delta") reply.textContent += body.text; // text, never markup
    else if (name === "done") { out.innerHTML = body.html; if (window.htmx) window.htmx.process(out); }
    else if (name === "error") reply.textContent = reply.getAttribute("data-error") || "Error";
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    var url = form.getAttribute && form.getAttribute("data-assistant");
    if (!url || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
    var box = form.querySelector("textarea");
    if (!box || !box.value.trim()) return;
    e.preventDefault();
    var out = document.getElementById("assistant-turn");
    var reply = document.createElement("p");
    reply.className = "msg msg-ai assistant-reply streaming";
    reply.setAttribute("aria-busy", "true");
    out.textContent = "";
    out.appendChild(reply);
    var body = new URLSearchParams(new FormData(form));
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "text/event-stream" } })
      .then(function (r) {
        if (!r.ok || !r.body) { form.removeAttribute("data-assistant"); form.submit(); return; }
        box.value = "";
        var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r/g, "");
            var at;
            while ((at = buffer.indexOf("\n\n")) >= 0) {
              assistantEvent(buffer.slice(0, at), out, reply);
              buffer = buffer.slice(at + 2);
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { form.removeAttribute("data-assistant"); form.submit(); })
      .then(function () { if (button) button.disabled = false; });
  });
})();
