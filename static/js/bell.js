// The bell in the page header: the signed-in visitor's unread count, kept live by the per-user
// notification socket (/api/v1/notifications/live, docs/notifications.md). Its first message
// ("hello") carries the count; every later one (a new notification, notifications read on another
// page or device) carries it too. Each message is re-dispatched on window as "hub-notification"
// for the /notifications page. A 44xx close (signed out, credential ended) is final; anything
// else reconnects with backoff.
const bell = document.getElementById("bell");
const count = document.getElementById("bell-count");
let delay = 500;
let leaving = false;

function show(unread) {
  count.textContent = unread > 99 ? "99+" : String(unread);
  count.hidden = unread === 0;
  // The label's words come from the page, in its language: data-label is "… {n} …".
  const label = bell.dataset.label || "Notifications, {n} unread";
  bell.setAttribute("aria-label", label.replace("{n}", String(unread)));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/api/v1/notifications/live`);
  socket.addEventListener("open", () => { delay = 500; });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (typeof message.unread_count === "number") show(message.unread_count);
    window.dispatchEvent(new CustomEvent("hub-notification", { detail: message }));
  });
  socket.addEventListener("close", (event) => {
    if (leaving || (event.code >= 4400 && event.code < 4500)) return;
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

if (bell && count) {
  window.addEventListener("pagehide", () => { leaving = true; });
  connect();
}
