// The @mention picker in the Markdown boxes of the forum (answer, ask, edit): typing "@" and a few
// letters of a username offers the people whose names start so (GET /people/suggest); Up/Down move
// through them, Enter or Tab (or a click) puts "@username " in place of what was typed, Escape
// closes. Names are set as text, never HTML. Without this script "@username" still works.
(function () {
  "use strict";
  if (window.peerlineMentionPicker) { return; }
  window.peerlineMentionPicker = true;

  var TYPED = /(^|[^\w@\/`])@([\w.-]{1,30})$/;

  function setUp(box) {
    var area = document.getElementById(box.getAttribute("data-mention-for"));
    var url = box.getAttribute("data-mention-url");
    var list = box.querySelector("[role=listbox]");
    var status = box.querySelector("[role=status]");
    if (!area || !url || !list) { return; }
    var results = [];
    var timer = null;
    var asked = null;
    function optionId(index) { return list.id + "-" + index; }
    var listbox = window.peerlineListbox(area, list, optionId, true);
    area.setAttribute("aria-autocomplete", "list");
    area.setAttribute("aria-controls", list.id);

    function typed() {
      var before = area.value.slice(0, area.selectionStart);
      var match = TYPED.exec(before);
      return match ? { name: match[2], start: area.selectionStart - match[2].length - 1 } : null;
    }

    function show(people) {
      results = people;
      list.textContent = "";
      people.forEach(function (person, index) {
        var named = person.display_name !== person.username ? " (" + person.display_name + ")" : "";
        listbox.option(index, "@" + person.username + named, choose);
      });
      list.hidden = people.length === 0;
      status.textContent = people.length ? people.length + " people match; use the arrow keys and Enter" : "";
      if (people.length) { listbox.setActive(0); }
    }

    function lookUp() {
      var now = typed();
      if (!now) { listbox.close(); return; }
      asked = now.name;
      fetch(url + "?q=" + encodeURIComponent(now.name), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { people: [] }; })
        .then(function (data) { if (asked === now.name) { show(data.people || []); } })
        .catch(function () { listbox.close(); });
    }

    function choose(index) {
      var person = results[index];
      var now = typed();
      if (!person || !now) { listbox.close(); return; }
      var insert = "@" + person.username + " ";
      var end = area.selectionStart;
      area.value = area.value.slice(0, now.start) + insert + area.value.slice(end);
      area.selectionStart = area.selectionEnd = now.start + insert.length;
      listbox.close();
      status.textContent = "Mentioned @" + person.username;
      area.dispatchEvent(new Event("input", { bubbles: true }));
    }

    area.addEventListener("input", function () {
      clearTimeout(timer);
      if (!typed()) { listbox.close(); return; }
      timer = setTimeout(lookUp, 150);
    });
    area.addEventListener("blur", function () { setTimeout(listbox.close, 150); });
    area.addEventListener("keydown", function (event) {
      if (list.hidden || !results.length) { return; }
      if (event.key === "ArrowDown") { event.preventDefault(); listbox.next(results.length); }
      else if (event.key === "ArrowUp") { event.preventDefault(); listbox.previous(results.length); }
      else if ((event.key === "Enter" || event.key === "Tab") && listbox.active >= 0 && !event.isComposing) {
        event.preventDefault();
        choose(listbox.active);
      } else if (event.key === "Escape") { event.preventDefault(); listbox.close(); }
    });
  }

  function init() {
    var boxes = document.querySelectorAll("[data-mention-for]");
    for (var i = 0; i < boxes.length; i++) { setUp(boxes[i]); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
