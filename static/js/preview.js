// Write / Preview tabs for the Markdown boxes (templates/_macros/writing.html): Preview sends the
// text to the server, which renders and sanitises it exactly as a saved post (core.markup), and
// shows the result; Write goes back to the box, text untouched. Keyboard: the tabs are buttons,
// Left/Right (Home/End) move between them. Without this script the tabs stay hidden.
(function () {
  "use strict";

  var MESSAGES = {
    signedOut: "You are signed out, so there is no preview. Sign in again in another tab; your text is still here.",
    expired: "This page has expired. Copy your text, reload the page and try again.",
    tooLong: "This text is too long to preview or post.",
    failed: "The preview could not be loaded. Try again; your text is still here."
  };

  function setUp(box) {
    if (box.getAttribute("data-preview-ready")) { return; }  // the script may be included twice
    var textarea = document.getElementById(box.getAttribute("data-preview-for"));
    var url = box.getAttribute("data-preview-url");
    var tablist = box.querySelector("[role=tablist]");
    var panel = box.querySelector("[role=tabpanel]");
    var status = box.querySelector("[data-preview-status]");
    if (!textarea || !url || !tablist || !panel) { return; }
    box.setAttribute("data-preview-ready", "1");
    var writeTab = tablist.querySelector("[data-tab=write]");
    var previewTab = tablist.querySelector("[data-tab=preview]");
    var tabs = [writeTab, previewTab];
    // The box's field (label, box, help, errors) is the Write panel; the tabs go above it.
    var field = textarea.closest(".field") || textarea;
    if (!field.id) { field.id = writeTab.getAttribute("aria-controls"); }
    writeTab.setAttribute("aria-controls", field.id);
    field.setAttribute("role", "tabpanel");
    field.setAttribute("aria-labelledby", writeTab.id);
    field.parentNode.insertBefore(tablist, field);
    box.hidden = false;

    var csrf = textarea.form ? textarea.form.querySelector("input[name=csrf_token]") : null;
    var shownText = null;  // the text the panel shows, so a second look asks the server nothing
    var request = 0;

    function say(text) {
      if (status) { status.textContent = text; }
    }

    function message(text, className) {
      panel.textContent = "";
      var p = document.createElement("p");
      p.className = className;
      p.textContent = text;
      panel.appendChild(p);
    }

    function select(tab) {
      tabs.forEach(function (each) {
        var on = each === tab;
        each.setAttribute("aria-selected", on ? "true" : "false");
        each.tabIndex = on ? 0 : -1;
      });
      field.hidden = tab !== writeTab;
      panel.hidden = tab !== previewTab;
    }

    function showWrite() {
      request += 1;  // an answer still on its way is not shown any more
      panel.removeAttribute("aria-busy");
      select(writeTab);
      say("");
    }

    function showPreview() {
      select(previewTab);
      var text = textarea.value;
      if (text === shownText) { say("Preview shown."); return; }
      var mine = ++request;
      shownText = null;
      message("Loading the preview…", "md-preview-message");
      panel.setAttribute("aria-busy", "true");
      var data = new URLSearchParams();
      data.append("body", text);
      if (csrf) { data.append("csrf_token", csrf.value); }
      fetch(url, {method: "POST", body: data, credentials: "same-origin",
                  headers: {"Accept": "application/json"}})
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.redirected) { throw {shown: MESSAGES.signedOut}; }  // to the sign-in page
          if (type.indexOf("application/json") === -1) {  // a page from the server or a proxy
            throw {shown: response.status === 413 ? MESSAGES.tooLong
              : response.status === 400 ? MESSAGES.expired : MESSAGES.failed};
          }
          return response.json().then(function (json) { return {ok: response.ok, json: json}; });
        })
        .then(function (result) {
          if (mine !== request) { return; }
          panel.removeAttribute("aria-busy");
          if (!result.ok) {
            message(result.json.error || MESSAGES.failed, "md-preview-error");
            say(result.json.error || MESSAGES.failed);
            return;
          }
          panel.innerHTML = result.json.html;  // rendered and sanitised by the server (core.markup)
          shownText = text;
          say("Preview shown.");
        })
        .catch(function (error) {
          if (mine !== request) { return; }
          panel.removeAttribute("aria-busy");
          var text = (error && error.shown) || MESSAGES.failed;  // or the network failed
          message(text, "md-preview-error");
          say(text);
        });
    }

    writeTab.addEventListener("click", showWrite);
    previewTab.addEventListener("click", showPreview);
    tablist.addEventListener("keydown", function (event) {
      var index = tabs.indexOf(document.activeElement);
      if (index === -1) { return; }
      var next = null;
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") { next = tabs[1 - index]; }
      else if (event.key === "Home") { next = tabs[0]; }
      else if (event.key === "End") { next = tabs[1]; }
      if (!next) { return; }
      event.preventDefault();
      next.focus();
      if (next === previewTab) { showPreview(); } else { showWrite(); }
    });
  }

  function start() {
    document.querySelectorAll("[data-preview-for]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
