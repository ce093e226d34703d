// Ask flow: while the title is typed, offer KB articles and solved threads that may already
// answer it. Opening one is reported (with the form's flow token and the category chosen so far),
// so a visit that ends without a question counts as a deflection; also for people not signed in.
// Keyboard: Down from the title moves into the list, Up/Down move within it, Escape goes back to
// the title. Enter in a one-line field (the title, the tags, the reason) moves on to the next field
// instead of posting a half-written question; the button still posts, by Enter or Space.
(function () {
  "use strict";
  var form = document.getElementById("ask-form");
  if (!form) { return; }
  var title = document.getElementById("title");
  var box = document.getElementById("suggestions");
  var list = document.getElementById("suggestion-list");
  var status = document.getElementById("suggestion-status");
  var url = form.getAttribute("data-suggest-url");
  var openedUrl = form.getAttribute("data-opened-url");
  var flow = form.querySelector("input[name=flow]");
  var csrf = form.querySelector("input[name=csrf_token]");
  var category = document.getElementById("category_id");
  var timer = null;
  var lastQuery = "";

  function badge(text, className) {
    var span = document.createElement("span");
    span.className = "badge " + className;
    span.textContent = text;
    return span;
  }

  function reportOpened(docId) {
    if (!openedUrl || !flow || !docId) { return; }
    var data = new FormData();
    data.append("flow", flow.value);
    data.append("doc", docId);
    if (category && category.value) { data.append("category", category.value); }
    if (csrf) { data.append("csrf_token", csrf.value); }
    if (navigator.sendBeacon && navigator.sendBeacon(openedUrl, data)) { return; }
    fetch(openedUrl, { method: "POST", body: data, credentials: "same-origin", keepalive: true })
      .catch(function () { /* a lost report only loses a statistic */ });
  }

  function show(results) {
    list.textContent = "";
    results.forEach(function (item) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = item.url;
      a.textContent = item.title;
      a.target = "_blank";
      a.rel = "noopener";
      a.setAttribute("data-doc", item.doc_id || "");
      a.className = "suggestion-link";
      li.appendChild(a);
      if (item.kind === "article") {
        li.appendChild(document.createTextNode(" "));
        li.appendChild(badge("Article", "badge-kb"));
      } else if (item.solved) {
        li.appendChild(document.createTextNode(" "));
        li.appendChild(badge("Solved", "badge-solved"));
      }
      list.appendChild(li);
    });
    box.hidden = results.length === 0;
    if (status) {
      status.textContent = results.length === 0 ? "" :
        results.length + (results.length === 1 ? " suggestion" : " suggestions") +
        " below the title; press Down to reach them.";
    }
  }

  function lookUp() {
    var query = title.value.trim();
    if (query === lastQuery) { return; }
    lastQuery = query;
    if (query.length < 4) { show([]); return; }
    fetch(url + "?title=" + encodeURIComponent(query), { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (query === lastQuery) { show(data.results || []); } })
      .catch(function () { show([]); });
  }

  function links() { return Array.prototype.slice.call(list.querySelectorAll("a.suggestion-link")); }

  // Middle clicks and Enter open a link too; "auxclick" covers the middle button.
  function onOpen(event) {
    var link = event.target.closest("a.suggestion-link");
    if (link) { reportOpened(link.getAttribute("data-doc")); }
  }
  list.addEventListener("click", onOpen);
  list.addEventListener("auxclick", onOpen);

  list.addEventListener("keydown", function (event) {
    var all = links();
    var at = all.indexOf(document.activeElement);
    if (at < 0) { return; }
    if (event.key === "ArrowDown") {
      event.preventDefault();
      all[Math.min(at + 1, all.length - 1)].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (at === 0) { title.focus(); } else { all[at - 1].focus(); }
    } else if (event.key === "Escape") {
      event.preventDefault();
      title.focus();
    }
  });

  title.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && !box.hidden) {
      var all = links();
      if (all.length) { event.preventDefault(); all[0].focus(); }
    }
  });

  // The reason only matters for urgent questions: show it when the box is ticked.
  var urgent = document.getElementById("urgent");
  var reasonField = document.getElementById("urgent_reason");
  if (urgent && reasonField) {
    var reasonBox = reasonField.closest(".field");
    var sync = function () { reasonBox.hidden = !urgent.checked; };
    urgent.addEventListener("change", sync);
    sync();
  }

  title.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookUp, 250);
  });

  var NOT_A_LINE = ["submit", "button", "image", "reset", "file"];

  function canTakeFocus(element) {
    return !element.disabled && element.type !== "hidden" && element.tabIndex >= 0 &&
      !element.closest("[hidden]") && element.getClientRects().length > 0;
  }

  // Listens on the form, so a field's own handler (the tag suggestions' Enter picks a tag) goes first.
  form.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || event.defaultPrevented || event.isComposing ||
        field.tagName !== "INPUT" || NOT_A_LINE.indexOf(field.type) >= 0) { return; }
    event.preventDefault();
    var fields = Array.prototype.filter.call(form.elements, canTakeFocus);
    var next = fields[fields.indexOf(field) + 1];
    if (next) { next.focus(); }
  });
})();
