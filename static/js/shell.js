// The navigation shell (templates/base.html): the phone menu button opens and closes the side
// menu (without script the link's #side-menu target does it), Escape closes it and the user
// menu, and the language select switches as soon as it changes.
const toggle = document.querySelector(".menu-toggle");
const menu = document.getElementById("side-menu");

function setOpen(open) {
  menu.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
  if (open) menu.querySelector("a")?.focus();
}

if (toggle && menu) {
  toggle.addEventListener("click", (event) => {
    event.preventDefault();
    setOpen(!menu.classList.contains("open"));
  });
  toggle.addEventListener("keydown", (event) => {
    if (event.key === " ") {
      event.preventDefault();
      setOpen(!menu.classList.contains("open"));
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (menu.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
    const user = document.querySelector(".user-menu[open]");
    if (user) {
      user.open = false;
      user.querySelector("summary").focus();
    }
  });
}

document.querySelectorAll(".lang-form select").forEach((select) => {
  select.addEventListener("change", () => select.form.requestSubmit());
});
