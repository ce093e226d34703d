// Attach files to a Markdown box (templates/_macros/writing.html, `attach`): drop or paste them into
// the box, or choose them with the "Attach files" button. Each file goes to the server at once
// (forum.upload_file), which checks it, re-encodes an image and answers with the Markdown to put in
// the text: a placeholder marks the spot while it uploads and gives way to `![name](/uploads/…)`, or
// disappears with the server's message (not an image, too large, too many...). The box's text is
// never lost: only the placeholder this script wrote is ever replaced.
(function () {
  "use strict";

  var MESSAGES = {
    signedOut: "You are signed out, so the file was not attached. Sign in again in another tab; your text is still here.",
    expired: "This page has expired. Copy your text, reload the page and attach the file again.",
    tooLarge: "This file is too large to attach.",
    failed: "The file could not be attached. Try again; your text is still here."
  };
  var counter = 0;

  function setUp(box) {
    if (box.getAttribute("data-attach-ready")) { return; }
    var textarea = document.getElementById(box.getAttribute("data-attach-for"));
    if (!textarea) { return; }
    box.setAttribute("data-attach-ready", "1");
    var url = box.getAttribute("data-attach-url");
    var pick = box.querySelector("[data-attach-pick]");
    var input = box.querySelector("[data-attach-input]");
    var status = box.querySelector("[data-attach-status]");
    var csrf = textarea.form ? textarea.form.querySelector("input[name=csrf_token]") : null;
    var queue = Promise.resolve();
    box.hidden = false;

    function say(text, bad) {
      status.textContent = text;
      status.classList.toggle("attach-error", !!bad);
    }

    function attachedCount() {  // the files the text links already, placeholders included
      var found = textarea.value.match(/\/uploads\/[A-Za-z0-9_-]{22}(?![\w-])|\]\(uploading-\d+\)/g);
      return found ? found.length : 0;
    }

    function insert(text) {
      var start = textarea.selectionStart, end = textarea.selectionEnd;
      var before = textarea.value.slice(0, start), after = textarea.value.slice(end);
      var lead = before && !/\n$/.test(before) ? "\n" : "";
      var tail = after && !/^\n/.test(after) ? "\n" : "";
      textarea.value = before + lead + text + tail + after;
      var caret = (before + lead + text).length;
      textarea.setSelectionRange(caret, caret);
      textarea.dispatchEvent(new Event("input", {bubbles: true}));
      return lead + text + tail;
    }

    function replace(placeholder, text) {
      var at = textarea.value.indexOf(placeholder);
      if (at === -1) { return; }  // the writer deleted it meanwhile: leave their text alone
      textarea.value = textarea.value.slice(0, at) + text + textarea.value.slice(at + placeholder.length);
      textarea.dispatchEvent(new Event("input", {bubbles: true}));
    }

    function send(file) {
      var name = (file.name || "pasted image").replace(/[\[\]\n]/g, "");
      var placeholder = "![Uploading " + name + "…](uploading-" + (++counter) + ")";
      var have = attachedCount();
      var written = insert(placeholder);
      say("Uploading " + name + "…");
      var data = new FormData();
      data.append("file", file, file.name || "pasted.png");
      data.append("place", box.getAttribute("data-attach-place"));
      data.append("target", box.getAttribute("data-attach-target"));
      data.append("have", String(have));
      if (csrf) { data.append("csrf_token", csrf.value); }
      return fetch(url, {method: "POST", body: data, credentials: "same-origin",
                         headers: {"Accept": "application/json"}})
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.redirected) { throw {shown: MESSAGES.signedOut}; }
          if (type.indexOf("application/json") === -1) {
            throw {shown: response.status === 413 ? MESSAGES.tooLarge
              : response.status === 400 ? MESSAGES.expired : MESSAGES.failed};
          }
          return response.json().then(function (json) { return {ok: response.ok, json: json}; });
        })
        .then(function (result) {
          if (!result.ok) { throw {shown: result.json.error || MESSAGES.failed}; }
          replace(placeholder, result.json.markdown);
          say(result.json.name + " is attached; it shows once you post.");
        })
        .catch(function (error) {
          if (textarea.value.indexOf(written) !== -1) { replace(written, ""); } else { replace(placeholder, ""); }
          say(name + ": " + ((error && error.shown) || MESSAGES.failed), true);
        });
    }

    function sendAll(list) {
      Array.prototype.forEach.call(list, function (file) {
        queue = queue.then(function () { return send(file); });  // one at a time, in order
      });
    }

    pick.addEventListener("click", function () { input.click(); });
    input.addEventListener("change", function () {
      sendAll(input.files);
      input.value = "";
      textarea.focus();
    });
    textarea.addEventListener("paste", function (event) {
      var list = event.clipboardData && event.clipboardData.files;
      if (!list || !list.length) { return; }  // text: the browser pastes it as usual
      event.preventDefault();
      sendAll(list);
    });
    textarea.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") !== -1) {
        event.preventDefault();
        textarea.classList.add("attach-drop");
      }
    });
    textarea.addEventListener("dragleave", function () { textarea.classList.remove("attach-drop"); });
    textarea.addEventListener("drop", function (event) {
      textarea.classList.remove("attach-drop");
      if (!event.dataTransfer || !event.dataTransfer.files.length) { return; }
      event.preventDefault();
      sendAll(event.dataTransfer.files);
    });
  }

  function start() {
    document.querySelectorAll("[data-attach-for]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
