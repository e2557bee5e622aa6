// The board's escalation alerts: the number of calls waiting for a person in the tab
// title (always), and — for staff who turned alerts on (`data-notify="1"`) — a short
// tone made with the Web Audio API and a desktop notification when that number grows.
// Loaded as a file (the CSP forbids inline scripts); the board works without it.
(function () {
  "use strict";

  var baseTitle = document.title;
  var last = null;
  var audio = null;

  function board() { return document.getElementById("board"); }

  function waiting() {
    var el = document.querySelector("#escalations[data-waiting]");
    if (!el) return null;
    var n = parseInt(el.getAttribute("data-waiting"), 10);
    return isNaN(n) ? null : n;
  }

  function wantsAlerts() {
    var b = board();
    return !!b && b.getAttribute("data-notify") === "1";
  }

  // Two short sine notes; browsers only let a page play sound after the person has
  // interacted with it, so the context is created (or resumed) on their first click.
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === "suspended") audio.resume();
    [[880, 0], [660, 0.18]].forEach(function (note) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var at = audio.currentTime + note[1];
      osc.type = "sine";
      osc.frequency.value = note[0];
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.17);
    });
  }

  function notify(count) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var title = (board() && board().getAttribute("data-alert-title")) || "Centralita";
    try { new Notification(title, { body: "(" + count + ")", tag: "centralita-escalations" }); } catch (_) { /* not allowed here */ }
  }

  function update() {
    var n = waiting();
    if (n === null) return;
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle;
    if (last !== null && n > last && wantsAlerts()) {
      beep();
      notify(n);
    }
    last = n;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!board()) return;
    update();
    // Asking for notification permission needs a gesture too: the first click on the
    // board page (for those who turned alerts on).
    document.addEventListener("click", function ask() {
      document.removeEventListener("click", ask);
      if (!wantsAlerts()) return;
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !audio) audio = new Ctx();
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    });
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "board") update();
  });
})();
