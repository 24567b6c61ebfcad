// The members and invites panel of the room page. The server renders the panel (escaped); this
// script sends the owner's changes to the rooms API with the session's CSRF token, then swaps in a
// fresh copy of the panel from /r/{slug}/people. Other people's changes arrive as member.* room
// events, which room.js re-dispatches on #room as "room-event".
const section = document.getElementById("people");
const panel = document.getElementById("people-panel");
const errorEl = document.getElementById("people-error");
const inviteForm = document.getElementById("invite-form");
const created = document.getElementById("invite-created");
const urlInput = document.getElementById("invite-url");
const slug = section.dataset.slug;
const api = `/api/v1/rooms/${encodeURIComponent(slug)}`;
let ended = false; // removed, signed out or the room closed: the panel is no longer ours to load

function showError(text) {
  errorEl.textContent = text || "";
}

async function call(method, url, body) {
  const headers = { "x-csrf-token": section.dataset.csrf, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.ok) return response.status === 204 ? null : response.json();
  let message = `${response.status} ${response.statusText}`;
  try {
    const payload = await response.json();
    if (payload && payload.error && payload.error.message) message = payload.error.message;
  } catch {
    // not JSON: keep the status line
  }
  throw new Error(message);
}

let refreshing = null;
let again = false;
async function refresh() {
  if (refreshing) {
    again = true; // one more after the current one: it may have started before the change
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      if (ended) break;
      const response = await fetch(`/r/${encodeURIComponent(slug)}/people`, {
        credentials: "same-origin",
        headers: { accept: "text/html" },
      });
      // After being removed the room may be invisible (404): keep the last panel.
      if (response.ok) panel.innerHTML = await response.text(); // server-rendered, escaped
    } while (again);
  })().finally(() => { refreshing = null; });
  return refreshing;
}

async function act(work) {
  showError("");
  try {
    await work();
  } catch (error) {
    showError(error.message);
  }
  await refresh().catch(() => {});
}

panel.addEventListener("change", (event) => {
  const select = event.target.closest("select.member-role");
  if (!select) return;
  const userId = Number(select.dataset.userId);
  act(() => call("PATCH", `${api}/members/${userId}`, { role: select.value }));
});

panel.addEventListener("click", (event) => {
  const remove = event.target.closest("button.member-remove");
  if (remove) {
    const leaving = remove.dataset.leave === "1";
    const question = leaving ? "Leave this room?" : "Remove this member from the room?";
    if (!window.confirm(question)) return;
    remove.disabled = true;
    act(() => call("DELETE", `${api}/members/${Number(remove.dataset.userId)}`)).then(() => {
      if (leaving) location.assign("/");
    });
    return;
  }
  const revoke = event.target.closest("button.invite-revoke");
  if (revoke) {
    revoke.disabled = true;
    act(() => call("DELETE", `${api}/invites/${Number(revoke.dataset.inviteId)}`));
  }
});

if (inviteForm) {
  inviteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(inviteForm);
    const expires = String(form.get("expires_in") || "");
    const uses = String(form.get("max_uses") || "").trim();
    const body = {
      role: String(form.get("role")),
      expires_in: expires ? Number(expires) : null,
      max_uses: uses ? Number(uses) : null,
    };
    const button = inviteForm.querySelector("button[type=submit]");
    button.disabled = true;
    act(async () => {
      const result = await call("POST", `${api}/invites`, body);
      urlInput.value = result.url;
      created.hidden = false;
      urlInput.focus();
      urlInput.select();
    }).finally(() => { button.disabled = false; });
  });
  document.getElementById("invite-copy").addEventListener("click", async () => {
    urlInput.select();
    try {
      await navigator.clipboard.writeText(urlInput.value);
    } catch {
      document.execCommand("copy"); // http:// origins other than localhost have no clipboard API
    }
  });
}

// Someone joined, left, or had their role changed (here or on another process).
let pending = null;
const roomEl = document.getElementById("room");
const myId = section.dataset.userId ? Number(section.dataset.userId) : null;
roomEl.addEventListener("room-event", (event) => {
  const message = event.detail || {};
  const type = message.type;
  if (ended || typeof type !== "string" || !type.startsWith("member.")) return;
  // One of our own sockets leaving changes nothing in the list, and when we were removed the
  // server would refuse the panel.
  // The rooms core sends user ids as strings, the hub's own events as numbers: compare as text.
  if (type === "member.left" && message.data && String(message.data.user_id) === String(myId)) {
    return;
  }
  clearTimeout(pending);
  pending = setTimeout(() => refresh().catch(() => {}), 150);
});
roomEl.addEventListener("room-ended", () => {
  ended = true;
  clearTimeout(pending);
});
