// Other members' cursors and selections in a text field of the room page (Yjs awareness).
//
// Each page publishes where its caret and selection are, as Yjs relative positions (they stay on
// the same characters while others type), in its awareness state: `cursor: {field, anchor,
// head}`. For every other member whose cursor is in this field, a layer over the field draws the
// selection in their colour and a caret with their name. The layer is a mirror of the field: the
// same box, font and wrapping, with transparent text, so character positions line up without
// measuring; it follows the field's scrolling. A textual list (for screen readers) says who is
// editing the field.

const COPIED = [
  "boxSizing", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft",
  "borderTopWidth", "borderRightWidth", "borderBottomWidth", "borderLeftWidth", "borderStyle",
  "fontFamily", "fontSize", "fontWeight", "fontStyle", "fontVariant", "lineHeight",
  "letterSpacing", "wordSpacing", "textIndent", "textTransform", "tabSize", "wordBreak",
  "overflowWrap", "textAlign",
];

function alpha(color, amount) {
  // Colours come from colorFor() (hsl(h s% l%)) or other clients: only hsl() gets a tint, the
  // rest a neutral one (a malformed colour must not break the style).
  const match = /^hsl\((\d{1,3}) (\d{1,3})% (\d{1,3})%\)$/.exec(String(color));
  return match ? `hsl(${match[1]} ${match[2]}% ${match[3]}% / ${amount})` : `rgb(120 120 140 / ${amount})`;
}

function safeColor(color) {
  return /^hsl\(\d{1,3} \d{1,3}% \d{1,3}%\)$/.test(String(color)) ? String(color) : "#777";
}

export function bindCursors({ Y, doc, awareness, el, ytext, field, peopleEl, label }) {
  const host = el.parentElement;
  const layer = document.createElement("div");
  layer.className = "cursor-layer";
  layer.setAttribute("aria-hidden", "true");
  host.append(layer);
  const singleLine = el.tagName === "INPUT";

  // --- publishing my own cursor --------------------------------------------------------------

  let lastSent = "";
  function publish() {
    if (document.activeElement !== el) return; // the other field (or nothing) has my caret
    const rel = (index, assoc) =>
      Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, index, assoc));
    // The caret is at the end the selection grows from (Shift+← grows it backwards).
    const backward = el.selectionDirection === "backward";
    const start = el.selectionStart ?? 0;
    const end = el.selectionEnd ?? 0;
    const cursor = {
      field,
      anchor: rel(backward ? end : start, 0),
      head: rel(backward ? start : end, 0),
    };
    const text = JSON.stringify(cursor);
    if (text === lastSent) return;
    lastSent = text;
    awareness.setLocalStateField("cursor", cursor);
  }
  for (const type of ["select", "keyup", "mouseup", "focus", "input"]) {
    el.addEventListener(type, () => queueMicrotask(publish));
  }
  document.addEventListener("selectionchange", () => {
    if (document.activeElement === el) publish();
  });
  // Remote edits move my caret in the field (room.js keeps it on its characters); tell others.
  ytext.observe(() => queueMicrotask(publish));
  el.addEventListener("blur", () => { lastSent = ""; });

  // --- drawing the others' -------------------------------------------------------------------

  function copyStyle() {
    const style = getComputedStyle(el);
    for (const name of COPIED) layer.style[name] = style[name];
    layer.style.borderColor = "transparent";
    layer.style.whiteSpace = singleLine ? "pre" : "pre-wrap";
    // Position and size come from the stylesheet (inset: 0 over the field's host), so the layer
    // follows the field at once when the screen turns or the textarea is resized.
    layer.style.width = "";
    layer.style.height = "";
    if (!singleLine) {
      // The textarea's scrollbar takes width from its text: the mirror's text wraps the same.
      const borders = parseFloat(style.borderLeftWidth) + parseFloat(style.borderRightWidth);
      const scrollbar = Math.max(0, el.offsetWidth - el.clientWidth - borders);
      layer.style.paddingRight = `${parseFloat(style.paddingRight) + scrollbar}px`;
    }
  }

  function remoteCursors() {
    const found = [];
    awareness.getStates().forEach((state, clientId) => {
      if (clientId === doc.clientID || !state || !state.user || !state.cursor) return;
      const cursor = state.cursor;
      if (cursor.field !== field) return;
      let anchor;
      let head;
      try {
        anchor = Y.createAbsolutePositionFromRelativePosition(
          Y.createRelativePositionFromJSON(cursor.anchor), doc);
        head = Y.createAbsolutePositionFromRelativePosition(
          Y.createRelativePositionFromJSON(cursor.head), doc);
      } catch {
        return; // a malformed position from another client: skip it, never break the page
      }
      if (!anchor || !head || anchor.type !== ytext || head.type !== ytext) return;
      found.push({
        clientId,
        name: String(state.user.name ?? "?").slice(0, 60),
        color: safeColor(state.user.color),
        from: Math.min(anchor.index, head.index),
        to: Math.max(anchor.index, head.index),
        head: head.index,
      });
    });
    found.sort((a, b) => a.clientId - b.clientId);
    return found;
  }

  function render() {
    const text = el.value;
    const cursors = remoteCursors();
    copyStyle();
    const cuts = new Set([0, text.length]);
    for (const c of cursors) {
      cuts.add(Math.min(c.from, text.length));
      cuts.add(Math.min(c.to, text.length));
      cuts.add(Math.min(c.head, text.length));
    }
    const points = [...cuts].sort((a, b) => a - b);
    const nodes = [];
    for (let i = 0; i < points.length; i++) {
      const at = points[i];
      for (const c of cursors) {
        if (Math.min(c.head, text.length) !== at) continue;
        const caret = document.createElement("span");
        caret.className = "remote-caret";
        caret.dataset.clientId = String(c.clientId);
        caret.style.borderColor = c.color;
        const tag = document.createElement("span");
        tag.className = "remote-name";
        tag.style.background = c.color;
        tag.textContent = c.name;
        caret.append(tag);
        nodes.push(caret);
      }
      const next = points[i + 1];
      if (next === undefined || next === at) continue;
      const piece = text.slice(at, next);
      const owner = cursors.find((c) => c.from <= at && next <= c.to && c.from !== c.to);
      if (owner) {
        const mark = document.createElement("span");
        mark.className = "remote-selection";
        mark.style.background = alpha(owner.color, 0.28);
        mark.textContent = piece;
        nodes.push(mark);
      } else {
        nodes.push(document.createTextNode(piece));
      }
    }
    // A trailing newline needs a character after it to take up its line, as in the textarea.
    nodes.push(document.createTextNode("\u200b"));
    layer.replaceChildren(...nodes);
    layer.scrollTop = el.scrollTop;
    layer.scrollLeft = el.scrollLeft;
    for (const caret of layer.querySelectorAll(".remote-caret")) {
      caret.classList.toggle("below", caret.offsetTop - layer.scrollTop < 14);
    }
    if (peopleEl) {
      const names = cursors.map((c) => c.name);
      peopleEl.dataset[field] = names.length ? `${label}: ${names.join(", ")}` : "";
      peopleEl.textContent = [peopleEl.dataset.prompt, peopleEl.dataset.negative]
        .filter(Boolean).join(" · ");
    }
  }

  let queued = false;
  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  }
  awareness.on("change", schedule);
  ytext.observe(schedule);
  el.addEventListener("scroll", () => {
    layer.scrollTop = el.scrollTop;
    layer.scrollLeft = el.scrollLeft;
  });
  el.addEventListener("input", schedule);
  window.addEventListener("resize", schedule);
  if (typeof ResizeObserver === "function") new ResizeObserver(schedule).observe(el);
  schedule();
  return { render };
}
