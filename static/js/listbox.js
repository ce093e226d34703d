// The list under a combobox (ARIA 1.2), shared by the tag suggestions and the KB article picker:
// which option is active (shown by aria-selected, and on the input by aria-activedescendant),
// moving through the options with wrap-around, and closing the list.
// `flat`: the input is a text area, which has no aria-expanded (a textbox is not a combobox).
window.peerlineListbox = window.peerlineListbox || function (input, list, optionId, flat) {
  "use strict";
  var box = { active: -1 };

  box.setActive = function (index) {
    var options = list.querySelectorAll("[role=option]");
    box.active = index;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    if (index >= 0 && options[index]) {
      input.setAttribute("aria-activedescendant", optionId(index));
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };
  // Add an option showing `text` (as text, never HTML); picking it with the mouse calls choose(index).
  // mousedown, not click: the input keeps its focus, so the list is not closed first.
  box.option = function (index, text, choose) {
    var li = document.createElement("li");
    li.id = optionId(index);
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.textContent = text;
    li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(index); });
    list.appendChild(li);
    return li;
  };
  box.next = function (count) { box.setActive((box.active + 1) % count); };
  box.previous = function (count) { box.setActive(box.active <= 0 ? count - 1 : box.active - 1); };
  box.close = function () {
    list.hidden = true;
    if (!flat) { input.setAttribute("aria-expanded", "false"); }
    box.setActive(-1);
  };
  return box;
};
