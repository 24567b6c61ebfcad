// The room's img2img source: an image dropped on the page or picked with the file input is
// uploaded (POST /api/v1/uploads) and stored in the shared document as
//   params.source_image = {ref, url, width, height}
// where `ref` is what a job request takes as `source_image_key` (an upload id or an image id).
// "Use as source" in the gallery sets the same value from one of the room's images. Everyone in
// the room sees the source; Generate sends it (room.js). Setting it is an edit like any other
// (undo takes it back).

export function readSource(params) {
  const value = params.get("source_image");
  if (!value || typeof value !== "object" || typeof value.ref !== "string" || !value.ref) {
    return null;
  }
  return value;
}

export function initSource({ params, setParam, deleteParam, csrf, safeUrl, canEdit }) {
  const section = document.getElementById("source");
  const current = document.getElementById("source-current");
  const image = document.getElementById("source-image");
  const size = document.getElementById("source-size");
  const clear = document.getElementById("source-clear");
  const drop = document.getElementById("source-drop");
  const file = document.getElementById("source-file");
  const errorEl = document.getElementById("source-error");

  function show() {
    const source = readSource(params);
    const url = source && safeUrl(source.url);
    current.hidden = !url;
    if (url) {
      image.src = url;
      size.textContent = source.width && source.height ? `${source.width}×${source.height}` : "";
    } else {
      image.removeAttribute("src");
    }
    refresh();
  }

  function refresh() {
    const editable = canEdit();
    drop.hidden = !editable;
    clear.hidden = !editable;
    file.disabled = !editable;
  }

  async function upload(blob) {
    errorEl.textContent = "";
    if (!canEdit()) return;
    const body = new FormData();
    body.append("file", blob, blob.name || "source.png");
    body.append("purpose", "source");
    drop.classList.add("busy");
    errorEl.textContent = section.dataset.i18nUploading || "Uploading…";
    try {
      const response = await fetch("/api/v1/uploads", {
        method: "POST",
        credentials: "same-origin",
        headers: { "x-csrf-token": await csrf() },
        body,
      });
      const payload = await response.json().catch(() => null);
      if (!response.ok) {
        throw new Error(payload && payload.error ? payload.error.message : `${response.status}`);
      }
      setParam("source_image", {
        ref: payload.upload_id,
        url: payload.url,
        width: payload.width,
        height: payload.height,
      });
      errorEl.textContent = "";
    } catch (err) {
      errorEl.textContent = err.message;
    } finally {
      drop.classList.remove("busy");
      file.value = "";
    }
  }

  file.addEventListener("change", () => {
    if (file.files && file.files[0]) upload(file.files[0]);
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const dropped = event.dataTransfer && event.dataTransfer.files[0];
    if (dropped) upload(dropped);
  });
  clear.addEventListener("click", () => deleteParam("source_image"));
  params.observe((event) => {
    if (event.keysChanged.has("source_image")) show();
  });
  show();

  return {
    refresh,
    // "Use as source" on one of the room's images (the gallery's viewer).
    useImage(picked) {
      if (!canEdit()) return;
      setParam("source_image", {
        ref: picked.image_id,
        url: picked.url,
        width: picked.width,
        height: picked.height,
      });
      section.scrollIntoView({ block: "nearest" });
    },
  };
}
