// Every page: the header's "Menu" on narrow screens, and its drop-down menus (<details>): one open
// at a time, closed by Escape (focus back on its summary) or by a click elsewhere. Loaded in <head>
// without defer so that the "js" class is set before the first paint: the folded menu never flashes.
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.querySelector(".menu-toggle");
  const panel = document.getElementById("site-menu");
  if (toggle && panel) {
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      panel.classList.toggle("open", open);
    });
  }

  const menus = Array.from(document.querySelectorAll("details.menu"));
  menus.forEach((menu) => {
    menu.addEventListener("toggle", () => {
      if (menu.open) menus.forEach((other) => { if (other !== menu) other.open = false; });
    });
  });
  document.addEventListener("click", (event) => {
    menus.forEach((menu) => { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = menus.find((menu) => menu.open);
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    } else if (toggle && toggle.getAttribute("aria-expanded") === "true" && panel.contains(document.activeElement)) {
      toggle.click();
      toggle.focus();
    }
  });
});
