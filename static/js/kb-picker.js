// The staff article picker in the reply form: a combobox (ARIA 1.2) over published KB articles.
// Typing searches; Up/Down move through the list, Enter or a click inserts "[Title](/kb/slug)" where
// the cursor was in the answer's textarea, Escape closes the list. Titles are set as text, never HTML.
(function () {
  "use strict";
  if (window.peerlineKbPicker) { return; }  // the script may be included once per reply form
  window.peerlineKbPicker = true;

  function setUp(box) {
    var input = box.querySelector("input[role=combobox]");
    var list = box.querySelector("[role=listbox]");
    var status = box.querySelector("[role=status]");
    var textarea = document.getElementById(box.getAttribute("data-target"));
    var url = box.getAttribute("data-picker-url");
    if (!input || !list || !textarea || !url) { return; }
    var results = [];
    var timer = null;
    var asked = null;

    function optionId(index) { return input.id + "-option-" + index; }

    var listbox = window.peerlineListbox(input, list, optionId);
    var setActive = listbox.setActive;
    var close = listbox.close;

    function show(items) {
      results = items;
      list.textContent = "";
      items.forEach(function (item, index) { listbox.option(index, item.title, choose); });
      var open = items.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      setActive(open ? 0 : -1);
      status.textContent = open
        ? items.length + (items.length === 1 ? " article found." : " articles found.")
        : "No published article matches.";
    }

    function lookUp() {
      var query = input.value.trim();
      asked = query;
      fetch(url + "?q=" + encodeURIComponent(query), {
        headers: { "Accept": "application/json" }, credentials: "same-origin"
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) { if (asked === query) { show(data.results || []); } })
        .catch(function () { if (asked === query) { show([]); } });
    }

    function insert(text) {
      var start = textarea.selectionStart;
      var end = textarea.selectionEnd;
      if (typeof start !== "number") { start = end = textarea.value.length; }
      textarea.focus();
      if (typeof textarea.setRangeText === "function") {
        textarea.setRangeText(text, start, end, "end");
      } else {
        textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
        textarea.selectionStart = textarea.selectionEnd = start + text.length;
      }
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function choose(index) {
      var item = results[index];
      if (!item) { return; }
      close();
      input.value = "";
      insert(item.markdown);
      status.textContent = "Link to “" + item.title + "” inserted.";
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookUp, 200);
    });
    input.addEventListener("focus", function () {
      if (!results.length && input.value.trim() === "") { lookUp(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
    input.addEventListener("keydown", function (event) {
      var count = results.length;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden) { if (count) { list.hidden = false; input.setAttribute("aria-expanded", "true"); } else { lookUp(); } }
        if (count) { listbox.next(count); }
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (count && !list.hidden) { listbox.previous(count); }
      } else if (event.key === "Enter") {
        // Never let Enter in the search box submit the answer.
        event.preventDefault();
        if (!list.hidden && listbox.active >= 0) { choose(listbox.active); }
      } else if (event.key === "Escape") {
        if (!list.hidden) { event.preventDefault(); close(); }
      }
    });
  }

  function init() {
    var boxes = document.querySelectorAll(".kb-picker");
    for (var i = 0; i < boxes.length; i++) { setUp(boxes[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
