// Dates in the viewer's language and time zone: every <time datetime="..."> (and any added
// later) is re-rendered with Intl, in the account's zone when it chose one (<html data-tz>),
// else the browser's. The server's text (UTC, or the account's zone) stays as the fallback and
// the exact instant goes to the title. data-format="date" shows the day only.
const root = document.documentElement;
const lang = root.lang || undefined;
const zone = root.dataset.tz || undefined;
const formats = new Map();

function formatter(kind) {
  if (!formats.has(kind)) {
    const options = kind === "date" ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" };
    try {
      formats.set(kind, new Intl.DateTimeFormat(lang, { ...options, timeZone: zone }));
    } catch {
      formats.set(kind, new Intl.DateTimeFormat(lang, options));  // unknown zone: the browser's
    }
  }
  return formats.get(kind);
}

export function localize(element) {
  if (element.dataset.localized) return;
  const when = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) return;
  const kind = element.dataset.format || (/T\d/.test(element.getAttribute("datetime")) ? "datetime" : "date");
  element.title = element.title || when.toISOString();
  element.textContent = formatter(kind).format(when);
  element.dataset.localized = "1";
}

function scan(node) {
  if (node.nodeType !== 1) return;
  if (node.matches("time[datetime]")) localize(node);
  node.querySelectorAll("time[datetime]").forEach(localize);
}

scan(document.body);
new MutationObserver((changes) => {
  for (const change of changes) change.addedNodes.forEach(scan);
}).observe(document.body, { childList: true, subtree: true });
