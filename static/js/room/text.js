// The room page's messages, translated by the server: templates/collab/room.html renders them
// with gettext into <script type="application/json" id="room-text">. Placeholders are {name}.
const node = document.getElementById("room-text");
let table = {};
try {
  table = node ? JSON.parse(node.textContent) : {};
} catch {
  table = {};
}

export function t(key, vars = {}) {
  const text = typeof table[key] === "string" ? table[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}
