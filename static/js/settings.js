// The settings page: each form (and each "Revoke" button) calls its JSON endpoint (data-api,
// data-method) with the session's CSRF token, then reloads, clears itself or shows the new
// token's secret once (data-after). Errors show in the form's status line, in the API's words.
const root = document.getElementById("settings");
const csrf = root ? root.dataset.csrf : "";

function say(form, text, ok) {
  const line = form.querySelector(".status-line");
  if (!line) return;
  line.textContent = text;
  line.className = `status-line ${ok ? "ok" : "bad"}`;
}

function jsonBody(form) {
  const body = {};
  for (const [name, value] of new FormData(form)) {
    if (value === "") continue; // empty optional fields are left out, not sent as ""
    body[name] = form.elements[name].type === "number" ? Number(value) : value;
  }
  return JSON.stringify(body);
}

async function call(element, body, isJson) {
  const headers = { "x-csrf-token": csrf, accept: "application/json" };
  if (isJson) headers["content-type"] = "application/json";
  const response = await fetch(element.dataset.api, {
    method: element.dataset.method,
    headers,
    body,
    credentials: "same-origin",
  });
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch { data = null; }
  }
  if (!response.ok) {
    const error = data && data.error;
    const fields = error && error.details && error.details.fields;
    const detail = fields && fields.length ? ` (${fields.map((f) => `${f.field}: ${f.message}`).join("; ")})` : "";
    throw new Error(`${error ? error.message : response.statusText}${detail}`);
  }
  return data;
}

function showToken(data) {
  const box = document.getElementById("token-secret");
  document.getElementById("token-secret-value").textContent = data.secret;
  box.hidden = false;
  const item = document.createElement("li");
  item.className = "item token";
  item.dataset.tokenId = String(data.token.token_id);
  const name = document.createElement("strong");
  name.textContent = data.token.name;
  item.append(name, ` ${data.token.token_prefix}…`);
  document.getElementById("tokens").prepend(item);
  document.getElementById("tokens-empty").hidden = true;
}

for (const form of document.querySelectorAll("form[data-api]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(form, "…", true);
    try {
      const multipart = form.dataset.body === "multipart";
      const hasFields = form.querySelector("[name]") !== null;
      const body = multipart ? new FormData(form) : hasFields ? jsonBody(form) : undefined;
      const data = await call(form, body, !multipart && hasFields);
      say(form, root.dataset.saved, true);
      if (form.dataset.after === "reload") location.reload();
      else if (form.dataset.after === "token") { showToken(data); form.reset(); }
      else form.reset();
    } catch (error) {
      say(form, error.message, false);
    } finally {
      button.disabled = false;
    }
  });
}

for (const button of document.querySelectorAll("button.revoke[data-api]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await call(button, undefined, false);
      button.closest("li").remove();
      document.getElementById("tokens-empty").hidden = document.querySelector("#tokens li") !== null;
    } catch (error) {
      button.disabled = false;
      button.title = error.message;
    }
  });
}
