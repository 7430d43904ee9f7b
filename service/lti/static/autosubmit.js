// Posts the signed deep-linking response back to the LMS (no inline script: the CSP forbids it).
document.getElementById("lti-deep-link-return").submit();
