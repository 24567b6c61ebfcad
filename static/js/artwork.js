// The artwork page's like and favorite buttons: PUT to set, DELETE to take back, then show the
// counts the server answers with (exact, whatever others did meanwhile).
const root = document.getElementById("artwork");
const workId = root?.dataset.workId;
const csrf = root?.dataset.csrf ?? "";
const error = document.getElementById("reaction-error");

async function toggle(button) {
  const kind = button.dataset.kind;
  const on = button.getAttribute("aria-pressed") !== "true";
  button.disabled = true;
  try {
    const response = await fetch(`/api/v1/works/${workId}/${kind}`, {
      method: on ? "PUT" : "DELETE",
      headers: { "x-csrf-token": csrf },
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (error) error.textContent = body?.error?.message ?? `failed (${response.status})`;
      return;
    }
    if (error) error.textContent = "";
    update(body);
  } finally {
    button.disabled = false;
  }
}

function update(work) {
  for (const [kind, flag, count] of [
    ["like", work.liked, work.like_count],
    ["favorite", work.favorited, work.favorite_count],
  ]) {
    document.getElementById(kind)?.setAttribute("aria-pressed", flag ? "true" : "false");
    const counter = document.getElementById(`${kind}-count`);
    if (counter) counter.textContent = String(count);
  }
}

for (const button of document.querySelectorAll("button.reaction")) {
  button.addEventListener("click", () => toggle(button));
}
