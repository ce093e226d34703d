// Ask flow: while the title is typed, offer solved threads that may already answer it.
(function () {
  "use strict";
  var form = document.getElementById("ask-form");
  if (!form) { return; }
  var title = document.getElementById("title");
  var box = document.getElementById("suggestions");
  var list = document.getElementById("suggestion-list");
  var url = form.getAttribute("data-suggest-url");
  var timer = null;
  var lastQuery = "";

  function show(results) {
    list.textContent = "";
    results.forEach(function (item) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = item.url;
      a.textContent = item.title;
      a.target = "_blank";
      a.rel = "noopener";
      li.appendChild(a);
      if (item.kind === "article") {
        var badge = document.createElement("span");
        badge.className = "badge badge-kb";
        badge.textContent = "Article";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(badge);
      } else if (item.solved) {
        var solved = document.createElement("span");
        solved.className = "badge badge-solved";
        solved.textContent = "Solved";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(solved);
      }
      list.appendChild(li);
    });
    box.hidden = results.length === 0;
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
    timer = setTimeout(lookUp, 300);
  });
})();
