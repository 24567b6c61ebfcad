// The /notifications page, live: new notifications are added at the top as they arrive and
// notifications read elsewhere turn read here (messages re-dispatched by bell.js). Text goes in
// with textContent, never as HTML. Following a link marks its notification read first.
const list = document.getElementById("notices");
const unreadEl = document.getElementById("notices-unread");
const csrf = list ? list.dataset.csrf : "";

function isLocalPath(url) {
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//");
}

function markRead(id) {
  // keepalive: the request survives the navigation the click starts.
  fetch(`/api/v1/notifications/${encodeURIComponent(id)}/read`, {
    method: "POST",
    credentials: "same-origin",
    keepalive: true,
    headers: { "x-csrf-token": csrf, accept: "application/json" },
  }).catch(() => {});
}

function add(notification) {
  if (!isLocalPath(notification.url) || list.querySelector(`li[data-id="${notification.notification_id}"]`)) return;
  document.getElementById("notices-empty")?.remove();
  const item = document.createElement("li");
  item.className = "unread";
  item.dataset.id = String(notification.notification_id);
  const link = document.createElement("a");
  link.setAttribute("href", notification.url);
  link.textContent = notification.text;
  const when = document.createElement("time");
  when.className = "when";
  when.dateTime = notification.created_at;
  when.textContent = "just now";
  item.append(link, " ", when);
  list.prepend(item);
}

function read(ids) {
  for (const item of list.querySelectorAll("li.unread")) {
    if (ids === null || ids.includes(Number(item.dataset.id))) {
      item.className = "read";
      item.querySelector("form")?.remove();
    }
  }
}

if (list) {
  window.addEventListener("hub-notification", (event) => {
    const message = event.detail;
    if (typeof message.unread_count === "number") unreadEl.textContent = String(message.unread_count);
    if (message.type === "notification") add(message.notification);
    if (message.type === "read") read(message.notification_ids);
  });
  list.addEventListener("click", (event) => {
    const link = event.target.closest("li.unread a");
    if (link) markRead(link.closest("li").dataset.id);
  });
}
