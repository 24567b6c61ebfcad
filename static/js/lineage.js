// The artwork page's lineage: "More" buttons page the ancestors and the remixes through
// GET /api/v1/works/{id}/lineage, each side with its own cursor. Every value is set as text
// or as an attribute through the DOM, never as HTML (titles are people's text).
const section = document.getElementById("lineage");
const workId = section?.dataset.workId;
const error = document.getElementById("lineage-error");
const PAGE = 8;

function item(work) {
  const li = document.createElement("li");
  li.className = "lineage-item";
  li.dataset.id = String(work.id);
  if (work.removed) {
    li.classList.add("removed");
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = "A removed work";
    li.append(span);
    return li;
  }
  const cover = document.createElement("a");
  cover.className = "lineage-cover";
  cover.href = work.url;
  cover.tabIndex = -1;
  cover.setAttribute("aria-hidden", "true");
  if (work.cover_url) {
    const img = document.createElement("img");
    img.src = work.cover_url;
    img.alt = "";
    img.width = 48;
    img.height = 48;
    cover.append(img);
  }
  const title = document.createElement("a");
  title.className = "lineage-title";
  title.href = work.url;
  title.textContent = work.title;
  const meta = document.createElement("span");
  meta.className = "muted small";
  const author = document.createElement("a");
  author.href = work.author.profile_url;
  author.textContent = work.author.display_name;
  meta.append("by ", author, ` · ⟲ ${work.remix_count}`);
  li.append(cover, title, meta);
  return li;
}

async function more(button) {
  const side = button.dataset.side;
  const params = new URLSearchParams({ limit: String(PAGE), [`${side}_cursor`]: button.dataset.cursor });
  button.disabled = true;
  try {
    const response = await fetch(`/api/v1/works/${workId}/lineage?${params}`, {
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (error) error.textContent = body?.error?.message ?? `failed (${response.status})`;
      return;
    }
    if (error) error.textContent = "";
    const list = document.getElementById(`lineage-${side}`);
    for (const work of body[side] ?? []) list?.append(item(work));
    const next = body[`${side}_next`];
    button.dataset.cursor = next ?? "";
    button.hidden = !next;
  } finally {
    button.disabled = false;
  }
}

for (const button of document.querySelectorAll("button.lineage-more")) {
  button.addEventListener("click", () => more(button));
}
