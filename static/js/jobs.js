// /jobs, live: while a listed job is queued or running, follow your job events
// (GET /api/v1/jobs/events, Server-Sent Events) to move its progress bar and state; when one
// finishes the page reloads once, to show its images or its failure as the server renders them.
const list = document.getElementById("jobs-list");
const active = () => list.querySelectorAll('.job[data-state="queued"], .job[data-state="running"]');

if (list && active().length && "EventSource" in window) {
  const source = new EventSource("/api/v1/jobs/events");
  let reloading = false;
  source.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    const item = list.querySelector(`.job[data-job-id="${CSS.escape(message.job_id || "")}"]`);
    if (!item) return;
    const badge = item.querySelector(".badge");
    if (message.type === "job.started" || message.type === "job.progress") {
      item.dataset.state = "running";
      if (badge) { badge.textContent = "running"; badge.className = "badge running"; }
      const bar = item.querySelector("progress");
      if (bar && message.type === "job.progress" && message.data) {
        bar.max = message.data.total || bar.max;
        bar.value = message.data.step || 0;
      }
    } else if (["job.succeeded", "job.failed", "job.canceled"].includes(message.type) && !reloading) {
      reloading = true;
      source.close();
      location.reload();
    }
  });
  window.addEventListener("pagehide", () => source.close());
}
