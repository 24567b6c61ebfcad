// The prompt library pages: the "new prompt" form, favorites, restore, and "use in a room".
// Everything posts to the JSON API with the session cookie and the page's CSRF token; answers
// are shown with textContent only.

const root = document.getElementById("library") || document.getElementById("prompt");
const csrf = root ? root.dataset.csrf : "";

async function send(method, url, body) {
  const headers = { "x-csrf-token": csrf };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method,
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
    throw new Error(error ? error.message : `The server answered ${response.status}.`);
  }
  return payload;
}

function showError(form, err) {
  const target = form.querySelector("[data-error]") || document.getElementById("prompt-error");
  if (target) target.textContent = err.message;
}

const newPrompt = document.getElementById("new-prompt");
if (newPrompt) {
  newPrompt.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(newPrompt);
    const body = {
      title: String(data.get("title") || ""),
      body: String(data.get("body") || ""),
      visibility: String(data.get("visibility") || "private"),
      tags: String(data.get("tags") || "").split(/[,，]/).map((t) => t.trim()).filter(Boolean),
    };
    const negative = String(data.get("negative_prompt") || "");
    if (negative) body.negative_prompt = negative;
    const category = String(data.get("category") || "").trim();
    if (category) body.category = category;
    try {
      const created = await send("POST", "/api/v1/prompts", body);
      location.assign(`/prompts/${created.id}`);
    } catch (err) {
      showError(newPrompt, err);
    }
  });
}

const promptId = root && root.dataset.promptId;
const favorite = document.getElementById("favorite");
if (favorite && promptId) {
  favorite.addEventListener("click", async () => {
    const on = favorite.dataset.on !== "true";
    try {
      const result = await send(on ? "PUT" : "DELETE", `/api/v1/prompts/${promptId}/favorite`);
      favorite.dataset.on = String(result.favorited);
      favorite.textContent = result.favorited ? "Unfavorite" : "Favorite";
      document.getElementById("favorite-count").textContent = `★ ${result.favorite_count}`;
    } catch (err) {
      document.getElementById("prompt-error").textContent = err.message;
    }
  });
}

for (const button of document.querySelectorAll("[data-restore]")) {
  button.addEventListener("click", async () => {
    try {
      await send("POST", `/api/v1/prompts/${promptId}/versions/${button.dataset.restore}/restore`);
      location.reload();
    } catch (err) {
      document.getElementById("prompt-error").textContent = err.message;
    }
  });
}

const useForm = document.getElementById("use-form");
if (useForm && promptId) {
  useForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const variables = {};
    for (const input of useForm.querySelectorAll("input[name=var]")) {
      if (input.value !== "") variables[input.dataset.name] = input.value;
    }
    const body = { variables };
    const room = useForm.querySelector("input[name=room]").value.trim();
    if (room) body.room = room;
    try {
      const used = await send("POST", `/api/v1/prompts/${promptId}/use`, body);
      location.assign(`/r/${encodeURIComponent(used.room)}`);
    } catch (err) {
      showError(useForm, err);
    }
  });
}
