// Toasts for background results (a job finished, a save failed): any page calls
//   import { toast } from "<static_url('js/toast.js')>";  toast("Saved", { kind: "success" });
// or, from a classic script, window.dispatchEvent(new CustomEvent("hub-toast", { detail: {...} })).
// They appear in the #toasts live region of templates/base.html (read out by screen readers),
// close by their × button or after `timeout` ms (0: stay), and never take the focus.
const DEFAULT_TIMEOUT = 6000;

function region() {
  let box = document.getElementById("toasts");
  if (!box) {
    box = document.createElement("div");
    box.id = "toasts";
    box.className = "toasts";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    document.body.append(box);
  }
  return box;
}

export function toast(message, { kind = "info", timeout = DEFAULT_TIMEOUT, href = null } = {}) {
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  const text = document.createElement(href ? "a" : "span");
  text.textContent = String(message);
  if (href) text.href = href;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", region().dataset.closeLabel || "Close");
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  region().append(item);
  if (timeout > 0) setTimeout(() => item.remove(), timeout);
  return item;
}

window.hubToast = toast;
window.addEventListener("hub-toast", (event) => {
  const { message, ...options } = event.detail || {};
  if (message) toast(message, options);
});
