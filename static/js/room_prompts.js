// The room page's prompt library tools: suggestions while you type (completions, tags and
// templates), "apply a template's style" to the current prompt, and "save as prompt".
// Edits go through Yjs with the TOOL origin, so everyone sees them and undo takes them back.
import { doc, prompt, negative, TOOL, csrf, slug, undo } from "/static/js/room.js";

const promptEl = document.getElementById("prompt");
const list = document.getElementById("suggestions");
const saveBtn = document.getElementById("save-prompt");
const toolStatus = document.getElementById("prompt-tools-status");
const root = document.getElementById("room");
let role = root.dataset.role || "viewer";
let timer = null;
let asked = 0;

root.addEventListener("room-role", (event) => {
  role = event.detail.role;
  if (role === "viewer") list.replaceChildren();
});

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

// A tool's edit is an undo step of its own, not part of the typing just before it.
function toolEdit(change) {
  undo.manager.stopCapturing();
  doc.transact(change, TOOL);
  undo.manager.stopCapturing();
}

function replaceText(ytext, value) {
  toolEdit(() => {
    ytext.delete(0, ytext.length);
    ytext.insert(0, value);
  });
}

// Replace the `replaces` text that ends at the caret with `text`.
function complete(replaces, text) {
  const caret = promptEl.selectionEnd;
  const start = caret - replaces.length;
  if (start < 0 || prompt.toString().slice(start, caret) !== replaces) return;
  toolEdit(() => {
    prompt.delete(start, replaces.length);
    prompt.insert(start, text);
  });
  const at = start + text.length;
  promptEl.focus();
  promptEl.setSelectionRange(at, at);
}

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": await csrf() },
    body: JSON.stringify(body),
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = payload && payload.error;
    throw new Error(error ? error.message : `The server answered ${response.status}.`);
  }
  return payload;
}

async function applyStyle(promptId) {
  try {
    const styled = await send("POST", `/api/v1/prompts/${promptId}/apply`, {
      prompt: prompt.toString(),
    });
    replaceText(prompt, styled.prompt);
    if (styled.negative_prompt) replaceText(negative, styled.negative_prompt);
    toolStatus.textContent = "Style applied (Ctrl+Z undoes it).";
  } catch (err) {
    toolStatus.textContent = err.message;
  }
}

function show(items) {
  list.replaceChildren(...items.map((item) => {
    const li = el("li", `suggestion ${item.kind}`);
    if (item.kind === "completion") {
      const button = el("button", "link", item.text);
      button.type = "button";
      button.addEventListener("click", () => complete(item.replaces || "", item.text));
      li.append(button);
    } else if (item.kind === "tag") {
      li.append(el("span", "tag", `#${item.text}`));
    } else if (item.kind === "work") {
      // A popular published work whose prompt matches: its page (it can be remixed there).
      const link = el("a", null, item.text);
      link.href = `/artwork/${Number(item.work_id)}`;
      link.target = "_blank";
      link.rel = "noopener";
      li.append(el("span", "badge", "work"), " ", link);
    } else {
      const link = el("a", null, item.text);
      link.href = `/prompts/${Number(item.prompt_id)}`;
      link.target = "_blank";
      link.rel = "noopener";
      const apply = el("button", "link", "Apply style");
      apply.type = "button";
      apply.addEventListener("click", () => applyStyle(item.prompt_id));
      li.append(link, " ", apply);
      if (item.official) li.append(" ", el("span", "badge", "official"));
    }
    return li;
  }));
}

async function suggest() {
  const typed = prompt.toString().slice(0, promptEl.selectionEnd).slice(-200);
  const ticket = ++asked;
  const response = await fetch(`/api/v1/prompts/suggest?q=${encodeURIComponent(typed)}`, {
    credentials: "same-origin",
  });
  if (!response.ok || ticket !== asked) return; // a newer keystroke asked again
  show((await response.json()).items);
}

promptEl.addEventListener("input", () => {
  if (role === "viewer") return;
  clearTimeout(timer);
  timer = setTimeout(() => suggest().catch(() => {}), 150);
});

if (saveBtn) {
  saveBtn.addEventListener("click", async () => {
    const title = window.prompt("Title of the new prompt template");
    if (!title || !title.trim()) return;
    try {
      const created = await send("POST", "/api/v1/prompts/from-room", {
        room: slug,
        title: title.trim(),
        visibility: "private",
      });
      toolStatus.replaceChildren("Saved: ", Object.assign(el("a", null, title.trim()), {
        href: `/prompts/${Number(created.id)}`,
      }));
    } catch (err) {
      toolStatus.textContent = err.message;
    }
  });
}
