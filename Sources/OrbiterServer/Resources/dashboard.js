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

  // The overview, refreshed every second from /v1/queues: the queues' counts, tokens and cost;
  // throughput from the per-minute counters (the growth of the same minutes' counts between two
  // reads, so a minute leaving the hour never reads as a drop); the hour per minute; the backlog.
  const queues = document.getElementById("queues");
  if (queues) {
    const width = 300, height = 60, samples = 120;
    const live = [], backlog = [];
    let previous = null, previousAt = 0;
    const tokens = (n) => n.toLocaleString("en-US");
    const money = (c) => c === null ? "-" : "$" + (c > 0 && c < 0.01 ? c.toFixed(4) : c.toFixed(2));
    const y = (value, top) => (height - 2 - (value / top) * (height - 4)).toFixed(1);
    const line = (id, series, index, top) => {
      const points = series.map((s, i) => `${(i * width / (samples - 1)).toFixed(1)},${y(s[index], top)}`);
      document.getElementById(id).setAttribute("points", points.join(" "));
    };
    const models = new Map();
    async function refresh() {
      const response = await fetch("/v1/queues", { credentials: "same-origin" });
      if (!response.ok) return;
      const reports = await response.json();
      const at = performance.now();
      let pending = 0, running = 0, done = 0, failed = 0;
      const minutes = new Map(); // minute → [completed, failed], summed over the queues
      models.clear();
      for (const q of reports) {
        pending += q.pending; running += q.running; done += q.completed_last_hour; failed += q.failed_last_hour;
        const used = q.models_last_hour || [];
        const sum = used.reduce((t, m) => t + m.input_tokens + m.output_tokens, 0);
        const priced = used.filter((m) => m.cost !== null);
        q.tokens_last_hour = tokens(sum);
        q.cost_last_hour = used.length && !priced.length ? "-" : money(priced.reduce((t, m) => t + m.cost, 0));
        const row = queues.querySelector(`tr[data-queue="${CSS.escape(q.queue)}"]`);
        if (row) for (const cell of row.querySelectorAll("[data-field]")) cell.textContent = q[cell.dataset.field];
        for (const m of used) {
          const t = models.get(m.model) || { tasks: 0, input: 0, output: 0, cost: null };
          t.tasks += m.tasks; t.input += m.input_tokens; t.output += m.output_tokens;
          if (m.cost !== null) t.cost = (t.cost || 0) + m.cost;
          models.set(m.model, t);
        }
        const pm = q.per_minute;
        if (pm && pm.completed) pm.completed.forEach((c, i) => {
          const minute = Math.round(pm.since / 60) + i;
          const t = minutes.get(minute) || [0, 0];
          t[0] += c; t[1] += pm.failed[i] || 0;
          minutes.set(minute, t);
        });
      }
      if (previous) {
        let grew = [0, 0];
        const newest = previous.size ? Math.max(...previous.keys()) : Infinity;
        for (const [minute, counts] of minutes) {
          // A minute that had not begun at the last read started from zero.
          const base = previous.get(minute) || (minute > newest ? [0, 0] : counts);
          grew = [grew[0] + Math.max(0, counts[0] - base[0]), grew[1] + Math.max(0, counts[1] - base[1])];
        }
        const seconds = Math.max(0.2, (at - previousAt) / 1000);
        live.push([grew[0] / seconds, grew[1] / seconds]);
        if (live.length > samples) live.shift();
        const top = Math.max(1, ...live.map((s) => Math.max(s[0], s[1])));
        line("chart-done", live, 0, top);
        line("chart-failed", live, 1, top);
        document.getElementById("throughput").textContent = `${(grew[0] / seconds).toFixed(1)} completed/s, ${(grew[1] / seconds).toFixed(1)} failed/s`;
      }
      previous = minutes; previousAt = at;
      backlog.push([pending, running]);
      if (backlog.length > samples) backlog.shift();
      const backlogTop = Math.max(1, ...backlog.map((s) => Math.max(s[0], s[1])));
      line("chart-pending", backlog, 0, backlogTop);
      line("chart-running", backlog, 1, backlogTop);
      // The hour, a bar per minute: completed stacked on failed.
      const hour = [...minutes.entries()].sort((a, b) => a[0] - b[0]).slice(-60);
      const peak = Math.max(1, ...hour.map(([, c]) => c[0] + c[1]));
      const bar = width / 60, svg = "http://www.w3.org/2000/svg", bars = document.getElementById("hour-bars");
      bars.replaceChildren(...hour.flatMap(([minute, c], i) => [["failed", c[1], 0], ["done", c[0], c[1]]].filter(([, n]) => n > 0).map(([kind, n, below]) => {
        const rect = document.createElementNS(svg, "rect");
        const h = (n / peak) * (height - 4), b = (below / peak) * (height - 4);
        rect.setAttribute("class", kind);
        rect.setAttribute("x", (i * bar + 0.5).toFixed(1)); rect.setAttribute("width", (bar - 1).toFixed(1));
        rect.setAttribute("y", (height - 2 - b - h).toFixed(1)); rect.setAttribute("height", h.toFixed(1));
        const title = document.createElementNS(svg, "title");
        title.textContent = `${new Date(minute * 60000).toISOString().slice(11, 16)} UTC: ${n} ${kind === "done" ? "completed" : "failed"}`;
        rect.appendChild(title);
        return rect;
      })));
      document.getElementById("hour-peak").textContent = hour.length ? `${Math.max(0, ...hour.map(([, c]) => c[0] + c[1]))} tasks` : "-";
      document.getElementById("failure-rate").textContent = done + failed ? `${(100 * failed / (done + failed)).toFixed(1)} %` : "-";
      const body = document.querySelector("#models tbody");
      if (models.size) {
        body.replaceChildren(...[...models.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, t]) => {
          const row = document.createElement("tr");
          for (const text of [name, t.tasks, tokens(t.input), tokens(t.output), money(t.cost)]) {
            const cell = document.createElement("td");
            cell.textContent = String(text);
            row.appendChild(cell);
          }
          return row;
        }));
      }
    }
    refresh().catch(() => {});
    setInterval(() => refresh().catch(() => {}), 1000);
  }
})();
