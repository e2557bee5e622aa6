// Centralita's own browser code. Loaded as a file (the CSP forbids inline scripts).
// Progressive enhancement only: every page works without it.
document.addEventListener("htmx:responseError", function (event) {
  // Show server-rendered error text for failed htmx requests instead of silently ignoring them.
  var target = event.detail.target;
  if (target && event.detail.xhr && event.detail.xhr.status >= 400) {
    target.setAttribute("aria-invalid", "true");
  }
});
