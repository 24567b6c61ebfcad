// The room gallery and its viewer. The gallery lists every image the room made, newest first,
// from GET /api/v1/rooms/{slug}/images (members only), a page at a time; after a generation
// finishes (a job.succeeded room event) it reloads its first page, so everyone in the room sees
// new images at once and someone who joins late sees the earlier ones.
//
// The viewer is a <dialog>: arrows move between images, Escape closes, Z (or the button, or a
// click on the image) zooms to full size; actions: download, publish (the works form), use as
// source (the room's img2img source) and remix (a new room seeded with this image).

const PAGE = 24;

export function initGallery({ slug, root, safeUrl, onUseAsSource, onRemix }) {
  const section = document.getElementById("gallery");
  const grid = document.getElementById("gallery-grid");
  if (!grid) return { reload: () => {} }; // not a member: the page says so instead
  const empty = document.getElementById("gallery-empty");
  const loading = document.getElementById("gallery-loading");
  const errorEl = document.getElementById("gallery-error");
  const more = document.getElementById("gallery-more");
  const imageWord = section.dataset.i18nImage || "Image";

  const images = []; // newest first, as the API pages them
  const byId = new Map();
  let nextCursor = null;
  let busy = null;

  async function fetchPage(cursor) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    const response = await fetch(`/api/v1/rooms/${encodeURIComponent(slug)}/images?${query}`, {
      credentials: "same-origin",
    });
    if (!response.ok) {
      let message = `${response.status}`;
      try {
        message = (await response.json()).error.message;
      } catch {
        // keep the status
      }
      throw new Error(message);
    }
    return response.json();
  }

  function tile(image) {
    const li = document.createElement("li");
    li.className = "gallery-item";
    li.dataset.imageId = image.image_id;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "gallery-open";
    const img = document.createElement("img");
    img.src = safeUrl(image.thumb_url) || safeUrl(image.url) || "";
    img.alt = image.prompt || imageWord;
    img.loading = "lazy";
    img.width = 160;
    img.height = Math.max(1, Math.round((160 * image.height) / Math.max(1, image.width)));
    button.append(img);
    button.addEventListener("click", () => open(image.image_id));
    li.append(button);
    return li;
  }

  function show() {
    grid.replaceChildren(...images.map(tile));
    empty.hidden = images.length > 0;
    more.hidden = !nextCursor;
    loading.hidden = true;
  }

  function merge(items, atTop) {
    const fresh = items.filter((image) => !byId.has(image.image_id));
    for (const image of fresh) byId.set(image.image_id, image);
    if (atTop) images.unshift(...fresh);
    else images.push(...fresh);
  }

  async function load(cursor) {
    errorEl.textContent = "";
    try {
      const page = await fetchPage(cursor);
      if (cursor) {
        merge(page.items, false);
        nextCursor = page.next_cursor;
      } else if (images.length === 0) {
        merge(page.items, false);
        nextCursor = page.next_cursor;
      } else {
        // A reload after new generations: only what is newer than what we have goes on top.
        merge(page.items, true);
      }
      show();
    } catch (err) {
      loading.hidden = true;
      errorEl.textContent = err.message;
    }
  }

  function reload() {
    if (busy) return busy.then(() => load(null));
    busy = load(null).finally(() => { busy = null; });
    return busy;
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    await load(nextCursor);
    more.disabled = false;
  });

  root.addEventListener("room-event", (event) => {
    const message = event.detail;
    if (message.type === "job.succeeded") reload();
  });
  root.addEventListener("room-resync", () => reload());

  // --- the viewer ------------------------------------------------------------------------------

  const dialog = document.getElementById("viewer");
  const title = document.getElementById("viewer-title");
  const count = document.getElementById("viewer-count");
  const img = document.getElementById("viewer-image");
  const frame = document.getElementById("viewer-frame");
  const promptEl = document.getElementById("viewer-prompt");
  const meta = document.getElementById("viewer-meta");
  const zoom = document.getElementById("viewer-zoom");
  const download = document.getElementById("viewer-download");
  const publish = document.getElementById("viewer-publish");
  const useSource = document.getElementById("viewer-source");
  const remix = document.getElementById("viewer-remix");
  const status = document.getElementById("viewer-status");
  let current = -1;

  function setZoom(on) {
    frame.classList.toggle("zoomed", on);
    zoom.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function showImage(index) {
    if (index < 0 || index >= images.length) return;
    current = index;
    const image = images[index];
    setZoom(false);
    img.src = safeUrl(image.url) || "";
    img.alt = image.prompt || imageWord;
    img.width = image.width;
    img.height = image.height;
    title.textContent = `${imageWord} ${index + 1}`;
    count.textContent = `${index + 1} / ${images.length}${nextCursor ? "+" : ""}`;
    promptEl.textContent = image.prompt || "";
    const when = new Date(image.created_at);
    meta.textContent = [
      image.model,
      `${image.width}×${image.height}`,
      `seed ${image.seed}`,
      Number.isNaN(when.getTime()) ? "" : when.toLocaleString(),
    ].filter(Boolean).join(" · ");
    download.href = safeUrl(image.download_url) || "#";
    if (publish) {
      publish.href = `/works/new?room=${encodeURIComponent(slug)}&image=${encodeURIComponent(image.image_id)}`;
    }
    status.textContent = "";
    document.getElementById("viewer-prev").disabled = index === 0;
    document.getElementById("viewer-next").disabled = index === images.length - 1 && !nextCursor;
  }

  function open(imageId) {
    const index = images.findIndex((image) => image.image_id === imageId);
    if (index < 0) return;
    showImage(index);
    if (!dialog.open) dialog.showModal();
    document.getElementById("viewer-close").focus();
  }

  async function step(delta) {
    const target = current + delta;
    if (target >= images.length && nextCursor) await load(nextCursor);
    showImage(Math.max(0, Math.min(images.length - 1, target)));
  }

  document.getElementById("viewer-prev").addEventListener("click", () => step(-1));
  document.getElementById("viewer-next").addEventListener("click", () => step(1));
  document.getElementById("viewer-close").addEventListener("click", () => dialog.close());
  zoom.addEventListener("click", () => setZoom(!frame.classList.contains("zoomed")));
  img.addEventListener("click", () => setZoom(!frame.classList.contains("zoomed")));
  dialog.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement) return;
    if (event.key === "ArrowRight") {
      event.preventDefault();
      step(1);
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      step(-1);
    } else if (event.key === "z" || event.key === "Z" || event.key === "+") {
      event.preventDefault();
      setZoom(!frame.classList.contains("zoomed"));
    }
    // Escape: the dialog closes itself (and returns focus to the tile that opened it).
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // the backdrop
  });
  if (useSource) {
    useSource.addEventListener("click", () => {
      const image = images[current];
      if (!image) return;
      onUseAsSource(image);
      dialog.close();
    });
  }
  if (remix) {
    remix.addEventListener("click", async () => {
      const image = images[current];
      if (!image) return;
      remix.disabled = true;
      try {
        await onRemix(image);
      } catch (err) {
        status.textContent = err.message;
      } finally {
        remix.disabled = false;
      }
    });
  }

  load(null);
  return { reload, open, images };
}
