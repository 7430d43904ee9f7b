/* Site-wide behaviour without inline scripts (CSP script-src 'self'): auto-submitting selects. */
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
})();
