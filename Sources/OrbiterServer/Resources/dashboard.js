// orbiter serve dashboard: buttons call the API with the sign-in cookie and the page's CSRF
// token; the task page follows the task's events (SSE); the overview refreshes queue counts.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  const message = document.getElementById("message");
  const say = (text) => { if (message) message.textContent = text; };

  async function call(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "X-Orbiter-CSRF": csrf, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((json.error && json.error.message) || ("HTTP " + response.status));
    return json;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action, id = button.dataset.task, queue = encodeURIComponent(button.dataset.queue || "");
    button.disabled = true;
    try {
      let result;
      if (action === "purge") {
        result = await call("DELETE", `/v1/tasks?status=${button.dataset.status}&older_than=0s&queue=${queue}`);
        say(`purged ${result.purged} ${button.dataset.status} task(s)`);
      } else {
        let body;
        if (action === "reply") body = { text: document.getElementById("reply-text").value };
        if (action === "reject") body = { reason: document.getElementById("reject-reason").value || "rejected by a person" };
        result = await call("POST", `/v1/tasks/${id}/${action}?queue=${queue}`, body);
        say(`${action}: ${result.outcome}`);
      }
      if (!document.getElementById("timeline")) setTimeout(() => location.reload(), 600);
    } catch (error) {
      say(`${action} failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });

  // A task's live timeline: text as it streams, each tool call with arguments, result, duration.
  const timeline = document.getElementById("timeline");
  if (timeline) {
    const source = new EventSource(timeline.dataset.events);
    let text = null;
    const add = (kind, content) => {
      const item = document.createElement("li");
      item.className = kind;
      item.textContent = content;
      timeline.appendChild(item);
      return item;
    };
    const on = (type, handle) => source.addEventListener(type, (e) => { if (e.data) handle(JSON.parse(e.data)); });
    on("text", (d) => { if (!text) text = add("text", ""); text.textContent += d.text; });
    on("reasoning", (d) => { text = null; add("reasoning", "thinking: " + d.text); });
    on("tool_call", (d) => { text = null; add("tool", `→ ${d.tool_name} (call ${d.tool_call_id})`); });
    on("tool_result", (d) => {
      text = null;
      add(d.success ? "tool" : "tool failed",
          `← ${d.tool_name}(${JSON.stringify(d.arguments)}) ${d.success ? "=" : "failed:"} ${d.success ? d.result : d.error} · ${Math.round(d.duration_ms)} ms`);
    });
    on("step", (d) => { text = null; add("step", `step ${d.step_number} ${d.status}` + (d.usage ? ` · ${d.usage.input_tokens || 0} in / ${d.usage.output_tokens || 0} out tokens` : "")); });
    on("usage", (d) => { add("usage", `usage ${d.model}: ${JSON.stringify(d.usage)}`); });
    on("error", (d) => { text = null; add("error", `error: ${d.error || d.message}`); });
    on("status", (d) => {
      text = null;
      const status = document.getElementById("task-status");
      // The run's own statuses (starting, ...) mean the task runs; the task's are shown as they are.
      const shown = ["completed", "failed", "cancelled", "waiting", "retrying"].includes(d.status) ? d.status : "running";
      if (status) { status.textContent = shown; status.className = "status " + shown; }
      add("status", `${d.status}${d.message ? " — " + d.message : ""}`);
      if (["completed", "failed", "cancelled"].includes(d.status)) source.close();
    });
  }

  // The overview: queue counts and the chart, refreshed every second.
  const queues = document.getElementById("queues");
  if (queues) {
    const series = [];
    const draw = (id, index, top) => {
      const points = series.map((s, i) => `${(i * 300 / 59).toFixed(1)},${(58 - (s[index] / top) * 56).toFixed(1)}`);
      document.getElementById(id).setAttribute("points", points.join(" "));
    };
    setInterval(async () => {
      const response = await fetch("/v1/queues", { credentials: "same-origin" });
      if (!response.ok) return;
      let pending = 0, running = 0, done = 0, failed = 0;
      for (const q of await response.json()) {
        const row = queues.querySelector(`tr[data-queue="${CSS.escape(q.queue)}"]`);
        if (row) for (const cell of row.querySelectorAll("[data-field]")) cell.textContent = q[cell.dataset.field];
        pending += q.pending; running += q.running; done += q.completed_last_hour; failed += q.failed_last_hour;
      }
      series.push([pending, running]);
      if (series.length > 60) series.shift();
      const top = Math.max(1, ...series.map((s) => Math.max(s[0], s[1])));
      draw("chart-pending", 0, top);
      draw("chart-running", 1, top);
      document.getElementById("failure-rate").textContent = done + failed ? `${(100 * failed / (done + failed)).toFixed(1)} %` : "-";
    }, 1000);
  }
})();
