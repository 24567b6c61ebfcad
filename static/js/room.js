// The room page: a prompt co-edited through Yjs with everyone's cursors, parameters and an
// img2img source in the shared document, who is here, events and chat, generations (a Generate
// button for editors, a live progress bar per job for everyone) and the room's gallery.
// Sign-in is the session cookie; the browser sends it with both WebSocket handshakes.
// Parts live in static/js/room/ (cursors, source, gallery); docs/decisions/0019-room-page-js.md.
import { Y, WebsocketProvider } from "/static/vendor/yjs/yjs-bundle.mjs";
import { bindUndo } from "/static/js/undo.js";
import { bindCursors } from "/static/js/room/cursors.js";
import { initGallery } from "/static/js/room/gallery.js";
import { initSource, readSource } from "/static/js/room/source.js";
import { t } from "/static/js/room/text.js";

const root = document.getElementById("room");
const slug = root.dataset.slug;
const me = {
  name: root.dataset.name || "Guest",
  userId: root.dataset.userId ? Number(root.dataset.userId) : null,
};
let role = root.dataset.role || "viewer";
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;

const statusEl = document.getElementById("status");
const connectionEl = document.getElementById("connection");
const roleEl = document.getElementById("my-role");
const promptEl = document.getElementById("prompt");
const negativeEl = document.getElementById("negative");
const paramInputs = [...document.querySelectorAll("[data-param]")];
const presenceEl = document.getElementById("presence");
const eventsEl = document.getElementById("events");
const chatForm = document.getElementById("chat");
const chatText = document.getElementById("chat-text");
const generateBtn = document.getElementById("generate");
const generateError = document.getElementById("generate-error");
const creditsEl = document.getElementById("credits");
const creditsBalance = document.getElementById("credits-balance");
const jobsEl = document.getElementById("jobs");
const jobsEmpty = document.getElementById("jobs-empty");
const modelSelect = document.getElementById("model");
const modelCost = document.getElementById("model-cost");
const modelInfo = new Map(); // model id -> /api/v1/models item
const roomOpen = (root.dataset.state || "open") === "open";

// Close codes after which reconnecting cannot help (docs/protocol.md).
const FINAL = Object.fromEntries(
  [4401, 4403, 4404, 4409, 4410, 4413].map((code) => [code, t(`final.${code}`)]),
);

function setStatus(text, bad = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("bad", bad);
}

// Connection state: the document socket (y-websocket, which reconnects and resyncs by itself)
// and the event socket (reconnects here, resuming after the last event seen). "live" only when
// both are up; otherwise what is being done about it.
const links = { doc: "connecting", events: "connecting" };
function showConnection() {
  if (statusEl.classList.contains("final")) return;
  let state = "live";
  if (links.doc !== "connected" || links.events !== "connected") {
    const ever = links.docEver || links.eventsEver;
    state = ever ? "reconnecting" : "connecting";
  }
  connectionEl.dataset.state = state;
  setStatus(t(state));
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
// Edits the page's tools make (a completion, a template's style): the fields show them like
// remote edits, and undo takes them back like typing.
const TOOL = "room-page-tool";

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
  links.doc = status;
  if (status === "connected") links.docEver = true;
  showConnection();
});
provider.on("connection-close", (event) => {
  const message = event && FINAL[event.code];
  if (message) {
    provider.disconnect(); // y-websocket stops on 44xx anyway; make it explicit
    statusEl.classList.add("final");
    connectionEl.dataset.state = "ended";
    // Other modules of the page (people.js) stop asking the server about a room we left.
    root.dispatchEvent(new CustomEvent("room-ended", { detail: { code: event.code } }));
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
const promptPeople = document.getElementById("prompt-people");
bindCursors({
  Y, doc, awareness: provider.awareness, el: promptEl, ytext: prompt, field: "prompt",
  peopleEl: promptPeople, label: document.querySelector('label[for="prompt"]').textContent,
});
bindCursors({
  Y, doc, awareness: provider.awareness, el: negativeEl, ytext: negative, field: "negative",
  peopleEl: promptPeople, label: document.querySelector('label[for="negative"]').textContent,
});

function readParam(input) {
  const raw = input.value.trim();
  if (input.tagName === "SELECT") return raw === "" ? null : raw;
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
    if (value === null) return deleteParam(input.dataset.param); // "default" in a select
    if (value === undefined || !input.checkValidity()) return;
    setParam(input.dataset.param, value);
  });
}
function setParam(name, value) {
  doc.transact(() => params.set(name, value), LOCAL);
}
function deleteParam(name) {
  if (params.has(name)) doc.transact(() => params.delete(name), LOCAL);
}
function showParams() {
  for (const input of paramInputs) {
    if (document.activeElement === input && input.tagName !== "SELECT") continue;
    const value = params.get(input.dataset.param);
    const text = value === undefined || value === null ? "" : String(value);
    if (input.tagName === "SELECT" && text && ![...input.options].some((o) => o.value === text)) {
      // A model someone else may use but this account may not (or not yet loaded): still shown.
      input.append(new Option(text, text));
    }
    input.value = text;
  }
  showModelCost();
}
params.observe(showParams);
showParams();

let source = null; // set below, once the helpers it needs exist
const undo = bindUndo({
  Y,
  scope: [prompt, negative, params],
  origins: [LOCAL, TOOL],
  undoButton: document.getElementById("undo"),
  redoButton: document.getElementById("redo"),
  editorFields: [promptEl, negativeEl, ...paramInputs],
  canEdit: () => role !== "viewer",
});

function applyRole(next) {
  role = next;
  roleEl.textContent = next;
  const readOnly = next === "viewer";
  promptEl.readOnly = readOnly;
  negativeEl.readOnly = readOnly;
  for (const input of paramInputs) input.disabled = readOnly;
  // Editors and the owner may generate; the server checks it again (viewers get 403).
  generateBtn.hidden = readOnly || me.userId == null || !roomOpen;
  undo.refresh();
  if (source) source.refresh();
  root.dispatchEvent(new CustomEvent("room-role", { detail: { role: next } }));
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
    name.textContent = String(p.name ?? "?") + (p.clientId === doc.clientID ? ` ${t("you")}` : "");
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
    case "member.joined":
    case "member.left": return t(message.type, { name: data.name ?? t("someone") });
    case "member.role": return t("member.role", { role: data.role });
    case "system.notice": return String(data.text ?? data.message ?? "notice");
    case "job.queued":
    case "job.succeeded":
    case "job.failed":
    case "job.canceled":
      return t(message.type, { name: data.owner_name ?? t("someone"), reason: data.reason ?? "" });
    default: return message.type;
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
    // Too much was missed to replay: start again from the history API, and reload what the
    // missed events would have updated (the gallery, the running jobs).
    eventsEl.replaceChildren();
    lastSeq = message.seq;
    loadChat(message.seq);
    root.dispatchEvent(new CustomEvent("room-resync"));
    loadRoomJobs();
    return;
  }
  if (message.type === "error") {
    addLine("error", t("error", { message: message.message ?? message.code ?? "?" }), null);
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
  // Other modules of the page (people.js) follow the room's events from here.
  root.dispatchEvent(new CustomEvent("room-event", { detail: message }));
  if (message.type.startsWith("job.")) {
    onJobEvent(message);
    // The log gets the milestones only; progress ticks live in the job's own bar.
    if (message.type === "job.started" || message.type === "job.progress") return;
    if (message.type === "job.queued" && message.data && message.data.reason) return;
  }
  addLine(message.type, describe(message), message.seq);
}

function connectEvents() {
  const since = lastSeq != null ? `?since=${lastSeq}` : "";
  const socket = new WebSocket(`${wsBase}/rooms/${encodeURIComponent(slug)}/events${since}`);
  events = socket;
  socket.onopen = () => {
    retry = 0;
    links.events = "connected";
    links.eventsEver = true;
    showConnection();
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
    if (events !== socket) return; // replaced already (an early reconnect)
    links.events = "disconnected";
    showConnection();
    if (FINAL[e.code]) {
      addLine("error", FINAL[e.code], null);
      root.dispatchEvent(new CustomEvent("room-ended", { detail: { code: e.code } }));
      return;
    }
    retry = Math.min(retry + 1, 6);
    reconnectTimer = setTimeout(connectEvents, 250 * 2 ** retry);
  };
}
let reconnectTimer = null;
connectEvents();
// Back online (or the tab woke up): reconnect now rather than at the end of the backoff; the
// replay from lastSeq brings what was missed.
window.addEventListener("online", () => {
  if (events && events.readyState <= 1) return;
  clearTimeout(reconnectTimer);
  retry = 0;
  connectEvents();
});

chatForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = chatText.value.trim();
  if (!text || !events || events.readyState !== 1) return;
  events.send(JSON.stringify({ type: "chat.send", data: { text } }));
  chatText.value = "";
});

// --- generations -------------------------------------------------------------------------------

const MAX_JOBS_SHOWN = 30;
const jobs = new Map(); // job_id -> view
let csrfToken = null;

async function csrf() {
  if (csrfToken) return csrfToken;
  const response = await fetch("/api/v1/auth/session", { credentials: "same-origin" });
  if (!response.ok) throw new Error(t("sign in again"));
  csrfToken = (await response.json()).csrf_token;
  return csrfToken;
}

async function post(url, body) {
  const headers = { "x-csrf-token": await csrf() };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && payload.error;
    const failure = new Error(error ? error.message : t("server answered", { status: response.status }));
    failure.status = response.status;
    throw failure;
  }
  return payload;
}

// Only URLs of our own media (relative) or http(s) ones reach <img src> / <a href>.
function safeUrl(url) {
  if (typeof url !== "string") return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? url : null;
  } catch {
    return null;
  }
}
const safePreview = (url) =>
  typeof url === "string" && url.startsWith("data:image/jpeg;base64,") ? url : safeUrl(url);

function formatEta(seconds, step, total) {
  // The first step's pace says little (it includes the start-up), so no estimate before step 2.
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || step < 2 || step >= total) {
    return "";
  }
  if (seconds < 1) return ` · ${t("almost done")}`;
  if (seconds < 90) return ` · ${t("seconds left", { n: Math.round(seconds) })}`;
  return ` · ${t("minutes left", { n: Math.round(seconds / 60) })}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function jobView(data) {
  let view = jobs.get(data.job_id);
  if (view) {
    if (data.owner_name && !view.ownerEl.textContent) view.ownerEl.textContent = data.owner_name;
    return view;
  }
  const li = el("li", "job");
  li.dataset.jobId = data.job_id;
  const head = el("div", "job-head");
  const ownerEl = el("span", "job-owner", data.owner_name ?? "");
  const modelEl = el("span", "job-model", data.model ?? "");
  const stateEl = el("span", "job-state badge", t("state.queued"));
  const cancelBtn = el("button", "job-cancel", t("cancel"));
  cancelBtn.setAttribute("aria-label", t("cancel job", { name: data.owner_name || me.name }));
  cancelBtn.type = "button";
  cancelBtn.hidden = !(me.userId != null && data.owner_id === me.userId);
  head.append(ownerEl, modelEl, stateEl, cancelBtn);
  const body = el("div", "job-body");
  const preview = el("img", "job-preview");
  preview.alt = "";
  preview.hidden = true;
  const meter = el("div", "job-meter");
  const bar = el("div", "progress");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", "0");
  const fill = el("div", "fill");
  bar.append(fill);
  const label = el("span", "job-label", t("waiting"));
  meter.append(bar, label);
  body.append(preview, meter);
  const images = el("div", "job-images");
  li.append(head, body, images);
  view = { li, ownerEl, stateEl, cancelBtn, preview, bar, fill, label, images, state: "queued" };
  cancelBtn.addEventListener("click", () => cancelJob(data.job_id, view));
  jobs.set(data.job_id, view);
  jobsEl.prepend(li);
  jobsEmpty.hidden = true;
  while (jobsEl.children.length > MAX_JOBS_SHOWN) {
    const last = jobsEl.lastElementChild;
    jobs.delete(last.dataset.jobId);
    last.remove();
  }
  return view;
}

function setProgress(view, percent, text) {
  const pct = Math.max(0, Math.min(100, Math.round(percent)));
  view.bar.setAttribute("aria-valuenow", String(pct));
  view.fill.style.width = `${pct}%`;
  view.label.textContent = text;
}

function setState(view, state) {
  view.state = state;
  view.li.dataset.state = state;
  view.stateEl.textContent = t(`state.${state}`);
  const finished = state === "succeeded" || state === "failed" || state === "canceled";
  if (finished) view.cancelBtn.hidden = true;
}

function showImages(view, images) {
  view.images.replaceChildren(...(images || []).flatMap((image) => {
    const href = safeUrl(image.url);
    const src = safeUrl(image.thumb_url) || href;
    if (!href || !src) return [];
    const link = el("a", "job-image");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener";
    const img = el("img");
    img.src = src;
    img.alt = t("generated image");
    img.loading = "lazy";
    if (image.width && image.height) {
      img.width = 160;
      img.height = Math.round((160 * image.height) / image.width);
    }
    link.append(img);
    return [link];
  }));
  showPublishLinks(view, images || []);
}

// Editors and the owner turn a finished image into a work (the form checks again; see
// docs/works.md). The links sit apart from the images, one per image.
function showPublishLinks(view, images) {
  if (!me.userId || (role !== "editor" && role !== "owner")) return;
  const ids = images.map((image) => image.image_id).filter((id) => typeof id === "string");
  if (!ids.length) return;
  let actions = view.li.querySelector(".job-actions");
  if (!actions) actions = view.li.appendChild(el("div", "job-actions"));
  actions.replaceChildren(...ids.map((id, i) => {
    const publish = el("a", "job-publish", ids.length > 1 ? t("publish n", { n: i + 1 }) : t("publish"));
    publish.href = `/works/new?room=${encodeURIComponent(slug)}&image=${encodeURIComponent(id)}`;
    return publish;
  }));
}

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

function onJobEvent(message) {
  const data = message.data || {};
  if (typeof data.job_id !== "string") return;
  const view = jobView(data);
  if (TERMINAL.has(view.state)) return; // late or replayed ticks never reopen a finished job
  switch (message.type) {
    case "job.queued":
      // A retry goes back to the queue (it says why); a plain "queued" after "started" is just
      // late (the worker was quicker than the announcement).
      if (view.state !== "queued" && !data.reason) return;
      setState(view, "queued");
      setProgress(view, 0, data.reason
        ? t("retrying", { reason: data.reason })
        : data.position ? t("waiting at", { position: data.position }) : t("waiting"));
      break;
    case "job.started":
      setState(view, "running");
      setProgress(view, 0, t("starting"));
      break;
    case "job.progress": {
      if (view.state === "queued") setState(view, "running");
      const total = Math.max(1, Number(data.total) || 1);
      const step = Math.max(0, Math.min(total, Number(data.step) || 0));
      setProgress(view, (100 * step) / total, t("step", { step, total }) + formatEta(data.eta_s, step, total));
      const src = safePreview(data.preview);
      if (src) {
        view.preview.src = src;
        view.preview.hidden = false;
      }
      break;
    }
    case "job.succeeded":
      setState(view, "succeeded");
      setProgress(view, 100, t("done"));
      view.preview.hidden = true;
      showImages(view, data.images);
      refreshCredits();
      break;
    case "job.failed":
      setState(view, "failed");
      view.label.textContent = t("failed", { reason: data.reason ?? t("unknown reason") });
      refreshCredits();
      break;
    case "job.canceled":
      setState(view, "canceled");
      view.label.textContent = t("canceled");
      refreshCredits();
      break;
    default:
      break;
  }
}

async function cancelJob(jobId, view) {
  view.cancelBtn.disabled = true;
  try {
    await post(`/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
    view.label.textContent = t("canceling");
  } catch (err) {
    view.cancelBtn.disabled = false;
    view.label.textContent = err.message;
  }
}

let creditsLoading = null;
function showBalance(balance) {
  if (!balance || balance.user_id !== me.userId) return;
  creditsBalance.textContent = String(balance.balance);
  creditsEl.title = balance.reserved ? t("reserved", { n: balance.reserved }) : "";
  creditsEl.hidden = false;
}
function refreshCredits() {
  if (me.userId == null || creditsLoading) return;
  creditsLoading = fetch("/api/v1/credits", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then(showBalance)
    .catch(() => {})
    .finally(() => { creditsLoading = null; });
}

const costText = (cost) => t(cost === 1 ? "cost one" : "cost many", { n: cost });

function showModelCost() {
  const info = modelInfo.get(modelSelect.value);
  modelCost.textContent = info
    ? `${costText(info.cost_per_image)} · ${t("model limits", { size: info.max_size, steps: info.default_steps })}`
    : "";
}

// The model select: the models this account may use, each with its cost (the first option is
// the server's default). A model set by someone else that this account may not use stays shown.
async function loadModels() {
  if (me.userId == null) return;
  const response = await fetch("/api/v1/models", { credentials: "same-origin" });
  if (!response.ok) return;
  const { items } = await response.json();
  const first = modelSelect.options[0];
  modelSelect.replaceChildren(first, ...items.map((m) => {
    modelInfo.set(m.id, m);
    return new Option(`${m.label} · ${costText(m.cost_per_image)}`, m.id);
  }));
  showParams();
}

// Jobs of the room that were queued or running before this page opened (the event stream only
// brings what happens from now on): from the queue view, which shows room members' jobs with
// their position and progress. Also refreshes the queue positions after each job event.
let queueLoading = null;
let queueAgain = false;
async function loadRoomJobs() {
  if (me.userId == null) return;
  if (queueLoading) {
    queueAgain = true;
    return;
  }
  queueLoading = (async () => {
    const response = await fetch("/api/v1/queue", { credentials: "same-origin" });
    if (!response.ok) return;
    const queue = await response.json();
    for (const item of queue.items) {
      if (item.room_id !== slug) continue;
      const known = jobs.get(item.job_id);
      const view = jobView({
        job_id: item.job_id,
        owner_id: item.mine ? me.userId : null,
        owner_name: item.mine ? me.name : "",
        model: item.model,
      });
      if (TERMINAL.has(view.state)) continue;
      if (item.state === "queued") {
        if (view.state !== "queued") continue;
        setState(view, "queued");
        setProgress(view, 0, item.position ? t("waiting at", { position: item.position }) : t("waiting"));
      } else if (!known || view.state === "queued") {
        setState(view, "running");
        const total = Math.max(1, item.total_steps || 1);
        setProgress(view, (100 * item.step) / total, t("step", { step: item.step, total }) + formatEta(item.eta_s, item.step, total));
      }
    }
  })().catch(() => {}).finally(() => {
    queueLoading = null;
    if (queueAgain) {
      queueAgain = false;
      setTimeout(loadRoomJobs, 250);
    }
  });
}

generateBtn.addEventListener("click", async () => {
  generateBtn.disabled = true;
  generateError.textContent = "";
  try {
    // The server reads the prompt and params from the shared document; the img2img source is
    // the one thing the document holds that the request names itself.
    const picked = readSource(params);
    const body = picked ? { source_image_key: picked.ref } : {};
    const submitted = await post(`/api/v1/rooms/${encodeURIComponent(slug)}/jobs`, body);
    for (const job of submitted.jobs) {
      jobView({ job_id: job.job_id, owner_id: job.owner_id, owner_name: me.name, model: job.model });
    }
    showBalance(submitted.balance);
  } catch (err) {
    // An uploaded source is its uploader's (images of the room are everyone's): say what to do.
    const hint = readSource(params) && err.status === 404 ? ` ${t("source not yours")}` : "";
    generateError.textContent = err.message + hint;
  } finally {
    generateBtn.disabled = false;
  }
});

refreshCredits();
loadModels().catch(() => {});
loadRoomJobs();

// --- source image, gallery, remix ----------------------------------------------------------------

source = initSource({
  params,
  setParam,
  deleteParam,
  csrf,
  safeUrl,
  canEdit: () => role !== "viewer" && me.userId != null,
});

// Remix: a new room of mine whose document starts from this image (prompt, parameters, and
// the image itself as the img2img source). The new page seeds its empty document (below).
async function remixImage(image) {
  const title = t("remix title", { prompt: (image.prompt || "").slice(0, 80) });
  const room = await post("/api/v1/rooms", { title });
  location.assign(`${room.page_url || `/r/${encodeURIComponent(room.slug)}`}#remix=${encodeURIComponent(image.image_id)}`);
}

async function seedFromRemix() {
  const match = /^#remix=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (!match || role === "viewer") return;
  history.replaceState(null, "", location.pathname + location.search);
  if (prompt.length > 0) return; // someone wrote here already: never overwrite
  const response = await fetch(`/api/v1/images/${match[1]}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const image = await response.json();
  doc.transact(() => {
    prompt.insert(0, image.prompt || "");
    if (image.negative_prompt) negative.insert(0, image.negative_prompt);
    params.set("model", image.model);
    params.set("size", `${image.width}x${image.height}`);
    if (image.params && Number.isInteger(image.params.steps)) params.set("steps", image.params.steps);
    params.set("source_image", {
      ref: image.image_id, url: image.url, width: image.width, height: image.height,
    });
  }, TOOL);
}
provider.once("sync", () => seedFromRemix().catch(() => {}));

const gallery = initGallery({
  slug,
  root,
  safeUrl,
  onUseAsSource: (image) => source.useImage(image),
  onRemix: remixImage,
});
// Queue positions move when any job starts or ends (not on progress ticks).
const QUEUE_MOVES = new Set(["job.queued", "job.started", "job.succeeded", "job.failed", "job.canceled"]);
root.addEventListener("room-event", (event) => {
  if (QUEUE_MOVES.has(event.detail.type)) loadRoomJobs();
});

window.addEventListener("beforeunload", () => provider.destroy());
window.hubRoom = { doc, provider, prompt, params, jobs, undo: undo.manager, gallery }; // debugging, e2e
// The prompt tools (static/js/room_prompts.js) edit the same document.
export { doc, prompt, negative, params, TOOL, csrf, slug, me, undo };
