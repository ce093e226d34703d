// Tag suggestions for the tags fields (ask, edit post, KB article): an ARIA 1.2 combobox over a
// listbox of existing tags, for any input with data-tag-suggest-url. The field holds tags separated
// by commas (or spaces); typing asks /tag-suggestions for the tag at the cursor, and choosing one
// replaces that tag, leaving ", " after it for the next. Down opens the list (the most used tags when
// nothing is typed) and moves through it, Up moves back, Enter or a click picks, Tab picks the option
// moved to with the arrows and goes on, Escape closes. Without this script the field is a plain text
// input, and the server names the nearest existing tags for an unknown one.
(function () {
  "use strict";
  if (window.peerlineTagSuggest) { return; }
  window.peerlineTagSuggest = true;

  var SEPARATOR = /[,\s]/;

  function setUp(input, number) {
    var url = input.getAttribute("data-tag-suggest-url");
    var listId = (input.id || "tags-" + number) + "-suggestions";
    var box = input.closest(".field") || input.parentNode;
    var list = document.createElement("ul");
    var status = document.createElement("p");
    var results = [];
    var timer = null;
    var asked = null;
    var cache = {};

    box.classList.add("tag-suggest");
    list.id = listId;
    list.className = "tag-suggest-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Existing tags");
    list.hidden = true;
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    input.insertAdjacentElement("afterend", list);
    list.insertAdjacentElement("afterend", status);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("autocomplete", "off");
    input.setAttribute("spellcheck", "false");

    // The tag the cursor is in: [start, end) between separators.
    function current() {
      var value = input.value;
      var caret = typeof input.selectionStart === "number" ? input.selectionStart : value.length;
      var start = caret;
      var end = caret;
      while (start > 0 && !SEPARATOR.test(value.charAt(start - 1))) { start--; }
      while (end < value.length && !SEPARATOR.test(value.charAt(end))) { end++; }
      return { start: start, end: end, text: value.slice(start, end) };
    }

    function chosenAlready() {
      var taken = {};
      var at = current();
      var rest = input.value.slice(0, at.start) + " " + input.value.slice(at.end);
      rest.split(/[,\s]+/).forEach(function (name) { if (name) { taken[name.toLowerCase()] = true; } });
      return taken;
    }

    function optionId(index) { return listId + "-" + index; }

    var listbox = window.peerlineListbox(input, list, optionId);
    var setActive = listbox.setActive;
    var close = listbox.close;

    function show(tags) {
      var taken = chosenAlready();
      results = tags.filter(function (tag) { return !taken[tag.name]; });
      list.textContent = "";
      results.forEach(function (tag, index) {
        var li = listbox.option(index, tag.name + " ", choose);
        var count = document.createElement("span");
        count.className = "tag-suggest-count";
        count.textContent = tag.threads + (tag.threads === 1 ? " thread" : " threads");
        li.appendChild(count);
      });
      var open = results.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      setActive(-1);
      status.textContent = open
        ? results.length + (results.length === 1 ? " existing tag" : " existing tags") +
          " suggested; press Down to choose."
        : "No existing tag matches.";
    }

    function lookUp() {
      var query = current().text.trim().toLowerCase();
      asked = query;
      if (cache.hasOwnProperty(query)) { show(cache[query]); return; }
      fetch(url + "?q=" + encodeURIComponent(query), { headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { tags: [] }; })
        .then(function (data) {
          cache[query] = data.tags || [];
          if (asked === query && document.activeElement === input) { show(cache[query]); }
        })
        .catch(function () { if (asked === query) { close(); } });
    }

    function choose(index) {
      var tag = results[index];
      if (!tag) { return; }
      var at = current();
      var before = input.value.slice(0, at.start) + tag.name + ", ";
      input.value = before + input.value.slice(at.end).replace(/^[,\s]+/, "");
      var caret = before.length;
      input.setSelectionRange(caret, caret);
      close();
      status.textContent = "Tag “" + tag.name + "” added.";
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      if (current().text.trim() === "") { asked = null; close(); return; }
      timer = setTimeout(lookUp, 150);
    });
    input.addEventListener("blur", function () { clearTimeout(timer); setTimeout(close, 150); });
    input.addEventListener("keydown", function (event) {
      var open = !list.hidden;
      var count = results.length;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (!open) { lookUp(); return; }
        listbox.next(count);
      } else if (event.key === "ArrowUp") {
        if (!open) { return; }
        event.preventDefault();
        listbox.previous(count);
      } else if (event.key === "Enter") {
        if (open && listbox.active >= 0 && !event.isComposing) {
          event.preventDefault();  // picks the tag; it does not submit the form
          choose(listbox.active);
        }
      } else if (event.key === "Tab") {
        if (open && listbox.active >= 0 && !event.shiftKey) { choose(listbox.active); } else { close(); }
      } else if (event.key === "Escape") {
        if (open) { event.preventDefault(); close(); }
      }
    });
  }

  function init() {
    var inputs = document.querySelectorAll("input[data-tag-suggest-url]");
    for (var i = 0; i < inputs.length; i++) { setUp(inputs[i], i); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
