// Canned replies in a staff reply form: "Insert" puts the chosen reply's text (filled in for this
// thread by the server) where the cursor was, and tells the server it was used, for the counts.
(function () {
  "use strict";
  if (window.peerlineCanned) { return; }
  window.peerlineCanned = true;

  function setUp(box) {
    var select = box.querySelector("select");
    var button = box.querySelector("[data-insert]");
    var csrf = box.querySelector("[data-csrf]");
    var textarea = document.getElementById(box.getAttribute("data-target"));
    if (!select || !button || !textarea) { return; }
    button.addEventListener("click", function () {
      var option = select.options[select.selectedIndex];
      if (!option) { return; }
      var text = option.getAttribute("data-text") || "";
      var start = textarea.selectionStart || 0;
      var end = textarea.selectionEnd || 0;
      textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
      textarea.focus();
      textarea.selectionStart = textarea.selectionEnd = start + text.length;
      var data = new FormData();
      if (csrf) { data.append("csrf_token", csrf.value); }
      fetch(option.getAttribute("data-used-url"), {method: "POST", body: data, credentials: "same-origin"});
    });
  }

  document.querySelectorAll(".canned-picker").forEach(setUp);
}());
