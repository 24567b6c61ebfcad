// The plain room page: a prompt co-edited through Yjs, parameters, who is here, events and chat.
// Sign-in is the session cookie; the browser sends it with both WebSocket handshakes.
import { Y, WebsocketProvider } from "/static/vendor/yjs/yjs-bundle.mjs";

const root = document.getElementById("room");
const slug = root.dataset.slug;
const me = {
  name: root.dataset.name || "Guest",
  userId: root.dataset.userId ? Number(root.dataset.userId) : null,
};
let role = root.dataset.role || "viewer";
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;

const statusEl = document.getElementById("status");
const roleEl = document.getElementById("my-role");
const promptEl = document.getElementById("prompt");
const negativeEl = document.getElementById("negative");
const paramInputs = [...document.querySelectorAll("[data-param]")];
const presenceEl = document.getElementById("presence");
const eventsEl = document.getElementById("events");
const chatForm = document.getElementById("chat");
const chatText = document.getElementById("chat-text");

// Close codes after which reconnecting cannot help (docs/protocol.md).
const FINAL = {
  4401: "Sign in to join this room.",
  4403: "You may not join this room.",
  4404: "This room does not exist (or is private).",
  4409: "You were removed from the room.",
  4410: "The room is closed.",
  4413: "The room is full.",
};

function setStatus(text, bad = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("bad", bad);
}

// --- the document ------------------------------------------------------------------------------

const doc = new Y.Doc();
const prompt = doc.getText("prompt");
const negative = doc.getText("negative");
const params = doc.getMap("params");
// disableBc: tabs must not exchange edits behind the server's back (a viewer tab would leak
// edits into an editor tab, which would send them on as its own).
const provider = new WebsocketProvider(`${wsBase}/yjs`, slug, doc, { disableBc: true });
const LOCAL = "room-page";

function colorFor(text) {
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 65% 45%)`;
}
provider.awareness.setLocalStateField("user", {
  name: me.name,
  color: colorFor(`${me.name}:${doc.clientID}`),
});

provider.on("status", ({ status }) => {
  if (!statusEl.classList.contains("final")) setStatus(status === "connected" ? "live" : status);
});
provider.on("connection-close", (event) => {
  const message = event && FINAL[event.code];
  if (message) {
    provider.disconnect(); // y-websocket stops on 44xx anyway; make it explicit
    statusEl.classList.add("final");
    setStatus(message, true);
    applyRole("viewer");
  }
});

// Common prefix and suffix: the smallest single replacement turning `before` into `after`,
// never splitting a UTF-16 surrogate pair (emoji), so Yjs sees minimal, valid edits.
function diff(before, after) {
  let start = 0;
  const max = Math.min(before.length, after.length);
  while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  if (start > 0 && isHigh(before.charCodeAt(start - 1))) start--;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start
    && before.charCodeAt(endBefore - 1) === after.charCodeAt(endAfter - 1)) {
    endBefore--;
    endAfter--;
  }
  if (endBefore < before.length && isLow(before.charCodeAt(endBefore))) {
    endBefore++;
    endAfter++;
  }
  return { start, remove: endBefore - start, insert: after.slice(start, endAfter) };
}
const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

// Binds an <input>/<textarea> to a Y.Text: local typing becomes minimal Yjs edits; remote edits
// update the field while keeping the caret where the user left it. IME composition (Chinese
// input) is applied once it ends, at positions mapped through any remote edits made meanwhile.
function bindText(el, ytext) {
  let shown = ytext.toString();
  let composing = null;
  el.value = shown;

  function commitLocal() {
    const change = diff(shown, el.value);
    if (change.remove === 0 && change.insert === "") return;
    doc.transact(() => {
      if (change.remove) ytext.delete(change.start, change.remove);
      if (change.insert) ytext.insert(change.start, change.insert);
    }, LOCAL);
    shown = ytext.toString();
  }

  el.addEventListener("compositionstart", () => {
    composing = {
      base: el.value,
      selStart: el.selectionStart,
      selEnd: el.selectionEnd,
      from: Y.createRelativePositionFromTypeIndex(ytext, el.selectionStart),
      to: Y.createRelativePositionFromTypeIndex(ytext, el.selectionEnd, -1),
    };
  });
  el.addEventListener("compositionend", () => {
    const c = composing;
    composing = null;
    if (!c) return commitLocal();
    const tail = c.base.length - c.selEnd;
    const typed = el.value.slice(c.selStart, el.value.length - tail);
    const from = Y.createAbsolutePositionFromRelativePosition(c.from, doc);
    const to = Y.createAbsolutePositionFromRelativePosition(c.to, doc);
    if (!from || !to) return;
    doc.transact(() => {
      if (to.index > from.index) ytext.delete(from.index, to.index - from.index);
      if (typed) ytext.insert(from.index, typed);
    }, LOCAL);
    shown = ytext.toString();
    el.value = shown;
    const caret = from.index + typed.length;
    el.setSelectionRange(caret, caret);
  });
  el.addEventListener("input", () => {
    if (composing || el.readOnly) return;
    commitLocal();
  });

  ytext.observe((event, transaction) => {
    if (transaction.origin === LOCAL) return;
    if (composing) return; // applied (and mapped) when the composition ends
    let start = el.selectionStart;
    let end = el.selectionEnd;
    let pos = 0;
    for (const op of event.delta) {
      if (op.retain) {
        pos += op.retain;
      } else if (op.insert) {
        const n = typeof op.insert === "string" ? op.insert.length : 1;
        if (pos < start) start += n;
        if (pos < end) end += n;
        pos += n;
      } else if (op.delete) {
        if (pos < start) start -= Math.min(op.delete, start - pos);
        if (pos < end) end -= Math.min(op.delete, end - pos);
      }
    }
    shown = ytext.toString();
    el.value = shown;
    if (document.activeElement === el) el.setSelectionRange(start, end);
  });
}

bindText(promptEl, prompt);
bindText(negativeEl, negative);

function readParam(input) {
  const raw = input.value.trim();
  if (raw === "") return undefined;
  if (input.dataset.kind === "int") {
    const n = Number(raw);
    return Number.isInteger(n) ? n : undefined;
  }
  if (input.dataset.kind === "float") {
    const n = Number(raw);
    return Number.isFinite(n) ? n : undefined;
  }
  return raw;
}
for (const input of paramInputs) {
  input.addEventListener("change", () => {
    const value = readParam(input);
    input.classList.toggle("invalid", value === undefined && input.value.trim() !== "");
    if (value === undefined || !input.checkValidity()) return;
    doc.transact(() => params.set(input.dataset.param, value), LOCAL);
  });
}
function showParams() {
  for (const input of paramInputs) {
    if (document.activeElement === input) continue;
    const value = params.get(input.dataset.param);
    input.value = value === undefined || value === null ? "" : String(value);
  }
}
params.observe(showParams);
showParams();

function applyRole(next) {
  role = next;
  roleEl.textContent = next;
  const readOnly = next === "viewer";
  promptEl.readOnly = readOnly;
  negativeEl.readOnly = readOnly;
  for (const input of paramInputs) input.disabled = readOnly;
}
applyRole(role);

// --- presence ----------------------------------------------------------------------------------

function renderPresence() {
  const people = [];
  provider.awareness.getStates().forEach((state, clientId) => {
    if (state && state.user) people.push({ clientId, ...state.user });
  });
  people.sort((a, b) => String(a.name).localeCompare(String(b.name)));
  presenceEl.replaceChildren(...people.map((p) => {
    const li = document.createElement("li");
    li.dataset.clientId = String(p.clientId);
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.style.background = typeof p.color === "string" ? p.color : "#999";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = String(p.name ?? "?") + (p.clientId === doc.clientID ? " (you)" : "");
    li.append(dot, name);
    return li;
  }));
}
provider.awareness.on("change", renderPresence);
renderPresence();

// --- events and chat ---------------------------------------------------------------------------

let lastSeq = null;
const seen = new Set();
let events = null;
let retry = 0;
let pinger = null;

function addLine(kind, text, seq) {
  if (seq != null && eventsEl.querySelector(`[data-seq="${seq}"]`)) return;
  const li = document.createElement("li");
  li.className = `event ${kind.replace(/[^a-z.]/g, "").replace(/\./g, "-")}`;
  if (seq != null) li.dataset.seq = String(seq);
  li.textContent = text;
  eventsEl.append(li);
  while (eventsEl.children.length > 500) eventsEl.firstElementChild.remove();
  eventsEl.scrollTop = eventsEl.scrollHeight;
}

function describe(message) {
  const data = message.data || {};
  switch (message.type) {
    case "chat.message": return `${data.name ?? "?"}: ${data.text ?? ""}`;
    case "member.joined": return `${data.name ?? "Someone"} joined`;
    case "member.left": return `${data.name ?? "Someone"} left`;
    case "member.role": return `A member is now ${data.role}`;
    case "system.notice": return String(data.text ?? data.message ?? "notice");
    default:
      if (message.type.startsWith("job.")) {
        const pct = typeof data.progress === "number" ? ` ${Math.round(data.progress * 100)}%` : "";
        return `${message.type}${pct}`;
      }
      return message.type;
  }
}

async function loadChat(beforeSeq) {
  const query = beforeSeq != null ? `?limit=50&before=${beforeSeq + 1}` : "?limit=50";
  const response = await fetch(`/api/v1/rooms/${encodeURIComponent(slug)}/chat${query}`, {
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const page = await response.json();
  for (const item of page.items.reverse()) {
    addLine("chat.message", `${item.name ?? "?"}: ${item.text}`, item.seq);
  }
}

function handleEvent(message) {
  if (message.type === "welcome") {
    if (lastSeq == null) {
      lastSeq = message.seq;
      loadChat(message.seq); // history up to the live stream's starting point
    }
    return;
  }
  if (message.type === "pong") return;
  if (message.type === "resync") {
    // Too much was missed to replay: start again from the history API.
    eventsEl.replaceChildren();
    lastSeq = message.seq;
    loadChat(message.seq);
    return;
  }
  if (message.type === "error") {
    addLine("error", `Error: ${message.message ?? message.code ?? "unknown"}`, null);
    return;
  }
  if (typeof message.seq === "number") {
    // Events from several processes may arrive slightly out of order: dedupe by seq (a replay
    // after a reconnect overlaps the live stream), never drop a lower seq seen for the first time.
    if (seen.has(message.seq)) return;
    seen.add(message.seq);
    if (seen.size > 2000) seen.delete(seen.values().next().value);
    lastSeq = lastSeq == null ? message.seq : Math.max(lastSeq, message.seq);
  }
  if (message.type === "member.role" && message.data && message.data.user_id === me.userId) {
    applyRole(message.data.role);
  }
  addLine(message.type, describe(message), message.seq);
}

function connectEvents() {
  const since = lastSeq != null ? `?since=${lastSeq}` : "";
  const socket = new WebSocket(`${wsBase}/rooms/${encodeURIComponent(slug)}/events${since}`);
  events = socket;
  socket.onopen = () => {
    retry = 0;
    clearInterval(pinger);
    pinger = setInterval(() => socket.readyState === 1 && socket.send('{"type":"ping"}'), 25000);
  };
  socket.onmessage = (m) => {
    try {
      handleEvent(JSON.parse(m.data));
    } catch (err) {
      console.warn("bad event", err);
    }
  };
  socket.onclose = (e) => {
    clearInterval(pinger);
    if (FINAL[e.code]) {
      addLine("error", FINAL[e.code], null);
      return;
    }
    retry = Math.min(retry + 1, 6);
    setTimeout(connectEvents, 250 * 2 ** retry);
  };
}
connectEvents();

chatForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = chatText.value.trim();
  if (!text || !events || events.readyState !== 1) return;
  events.send(JSON.stringify({ type: "chat.send", data: { text } }));
  chatText.value = "";
});

window.addEventListener("beforeunload", () => provider.destroy());
window.hubRoom = { doc, provider, prompt, params }; // for debugging and end-to-end tests
