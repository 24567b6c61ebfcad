// My images: the selection. "Publish selected" is the form's own GET to /works/new (one
// ?image= per ticked box); "Download selected" posts the ids to /api/v1/images/download with
// the session's CSRF token and saves the zip it answers. A refusal shows the API's message.
const form = document.getElementById("selection");

if (form) {
  const boxes = () => [...form.querySelectorAll('input[name="image"]')];
  const chosen = () => boxes().filter((box) => box.checked).map((box) => box.value);
  const error = document.getElementById("selection-error");
  const count = document.getElementById("selected-count");
  const initial = count.textContent;

  const update = () => {
    const n = chosen().length;
    count.textContent = n ? `${n} ✓` : initial;
    error.textContent = "";
  };
  form.addEventListener("change", update);

  document.getElementById("select-all").addEventListener("click", () => {
    const all = boxes();
    const on = !all.every((box) => box.checked);
    for (const box of all) box.checked = on;
    update();
  });

  form.addEventListener("submit", (event) => {
    if (!chosen().length) {
      event.preventDefault();
      error.textContent = form.dataset.none;
    }
  });

  const download = document.getElementById("download-selected");
  download.addEventListener("click", async () => {
    const ids = chosen();
    if (!ids.length) {
      error.textContent = form.dataset.none;
      return;
    }
    download.disabled = true;
    count.textContent = form.dataset.busy;
    try {
      const response = await fetch("/api/v1/images/download", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": form.dataset.csrf },
        body: JSON.stringify({ image_ids: ids }),
        credentials: "same-origin",
      });
      if (!response.ok) {
        let message = response.statusText;
        try { message = (await response.json()).error.message; } catch { /* not JSON */ }
        throw new Error(message);
      }
      const disposition = response.headers.get("content-disposition") || "";
      const match = /filename="?([^";]+)"?/.exec(disposition);
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = match ? match[1] : "images.zip";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      update();
    } catch (problem) {
      update();
      error.textContent = problem.message;
    } finally {
      download.disabled = false;
    }
  });
}
