// A refused form's error summary (templates/_macros/forms.html error_summary): focused when the page
// loads, so a screen reader announces it and Tab goes on to its links; a link moves focus to its field
// with the field's label in view (jumping to #id alone would scroll the label off screen and, for
// some fields, not focus them at all).
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) { return; }
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) { return; }
    var target = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
    if (!target) { return; }
    event.preventDefault();
    var label = target.id ? document.querySelector("label[for='" + target.id + "']") : null;
    (label || target).scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
  });
})();
