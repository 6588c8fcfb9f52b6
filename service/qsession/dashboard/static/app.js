// The Workloads page: plain JavaScript, no build step, no dependencies.
// Routes (location.hash): #/ workloads, #/sessions/ID, #/jobs/ID, #/backends.
// Live: one EventSource on /api/events; an event re-renders the current view if it concerns it.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const view = document.getElementById("view");
let events = null;
let rerenderTimer = null;
let me = null;
const workloadState = { offset: 0, pageSize: 25, filters: {} };

// ------------------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function time(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const d = new Date(seconds * 1000);
  return d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return (seconds * 1000).toFixed(0) + " ms";
  if (seconds < 120) return seconds.toFixed(seconds < 10 ? 2 : 1) + " s";
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 120) return `${m}m ${s}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function status(value) { return el("span", { class: "status " + value, "data-status": value }, value); }
function tags(list) { return (list || []).map((t) => el("span", { class: "tag" }, t)); }
function short(id) { return id ? id.slice(0, 8) : "—"; }

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: { "Content-Type": "application/json", "X-Qsession": "1", ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/api/login") { signedOut(); throw new Error("signed out"); }
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ------------------------------------------------------------------------------ sign-in

const signInForm = document.getElementById("sign-in");
signInForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  try {
    await api("/api/login", { method: "POST", body: JSON.stringify({ token: document.getElementById("token").value }) });
    document.getElementById("token").value = "";
    await start();
  } catch (e) { error.textContent = e.message; }
});

document.getElementById("sign-out").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST" }).catch(() => {});
  signedOut();
});

function signedOut() {
  me = null;
  if (events) { events.close(); events = null; }
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("live").classList.remove("on");
  view.replaceChildren();
  signInForm.hidden = false;
}

async function start() {
  try { me = await api("/api/me"); } catch { return; }
  signInForm.hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("who").textContent = `instance ${me.instance} (${me.plan})`;
  listen();
  render();
}

// ------------------------------------------------------------------------ live updates

function listen() {
  if (events) events.close();
  events = new EventSource("/api/events");
  const live = document.getElementById("live");
  events.addEventListener("hello", () => { live.classList.add("on"); rerender(); });
  events.addEventListener("error", () => live.classList.remove("on"));
  for (const kind of ["job", "session", "backends"]) {
    events.addEventListener(kind, (message) => {
      const data = JSON.parse(message.data);
      if (concerns(kind, data)) rerender();
    });
  }
}

function concerns(kind, data) {
  const [page, id] = route();
  if (page === "workloads") return kind !== "backends";
  if (page === "backends") return true;
  if (page === "session") return data.id === id || data.session_id === id || kind === "backends";
  if (page === "job") return data.id === id;
  return false;
}

function rerender() {
  clearTimeout(rerenderTimer);
  rerenderTimer = setTimeout(render, 150); // many events at once: one re-read
}

// ------------------------------------------------------------------------------ routing

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "sessions" && parts[1]) return ["session", decodeURIComponent(parts[1])];
  if (parts[0] === "jobs" && parts[1]) return ["job", decodeURIComponent(parts[1])];
  if (parts[0] === "backends") return ["backends"];
  return ["workloads"];
}

window.addEventListener("hashchange", () => { if (me) render(); });

// Renders run one after another, so the last one asked for (the current route, the newest
// data) is the one left on screen: an earlier render finishing late cannot overwrite it.
let rendering = Promise.resolve();
function render() {
  rendering = rendering.then(renderNow, renderNow);
  return rendering;
}

async function renderNow() {
  if (!me) return;
  const [page, id] = route();
  try {
    if (page === "session") await renderSession(id);
    else if (page === "job") await renderJob(id);
    else if (page === "backends") await renderBackends();
    else await renderWorkloads();
  } catch (e) {
    if (e.message !== "signed out") view.replaceChildren(el("p", { class: "error", id: "view-error" }, e.message));
  }
}

// ---------------------------------------------------------------------------- workloads

function workloadFilters() {
  const f = workloadState.filters;
  const select = (name, label, options) => el("label", {}, label,
    el("select", { name, onchange: (e) => { f[name] = e.target.value; workloadState.offset = 0; render(); } },
      options.map((o) => { const opt = el("option", { value: o }, o || "any"); if (f[name] === o) opt.selected = true; return opt; })));
  const input = (name, label, type) => el("label", {}, label,
    el("input", { name, type, value: f[name] || "", onchange: (e) => { f[name] = e.target.value; workloadState.offset = 0; render(); } }));
  return el("form", { class: "filters", id: "filters", onsubmit: (e) => e.preventDefault() },
    select("status", "Status", ["", "QUEUED", "RUNNING", "DONE", "ERROR", "CANCELLED", "open", "active", "inactive", "closed"]),
    select("mode", "Mode", ["", "session", "batch", "job"]),
    select("backend", "Backend", ["", ...me.backends]),
    input("tag", "Tag", "text"),
    input("since", "Created after", "datetime-local"),
    input("until", "Created before", "datetime-local"));
}

async function renderWorkloads() {
  const params = new URLSearchParams({ offset: workloadState.offset, page_size: workloadState.pageSize });
  for (const [key, value] of Object.entries(workloadState.filters)) if (value) params.set(key, value);
  const page = await api("/api/workloads?" + params);
  const rows = page.rows.map((row) => {
    const href = row.kind === "session" ? `#/sessions/${row.id}` : `#/jobs/${row.id}`;
    return el("tr", { "data-id": row.id, "data-mode": row.mode },
      el("td", { class: "mono" }, el("a", { href }, row.id)),
      el("td", {}, row.mode), el("td", {}, row.backend), el("td", {}, status(row.status)),
      el("td", {}, time(row.created)), el("td", {}, time(row.ended)),
      el("td", {}, duration(row.usage)), el("td", {}, tags(row.tags)));
  });
  const previous = el("button", { id: "previous", onclick: () => { workloadState.offset = Math.max(0, page.offset - workloadState.pageSize); render(); } }, "‹ Newer");
  previous.disabled = page.offset === 0;
  const next = el("button", { id: "next", onclick: () => { workloadState.offset = page.offset + workloadState.pageSize; render(); } }, "Older ›");
  next.disabled = !page.more;
  const focused = document.activeElement && document.activeElement.name;
  view.replaceChildren(
    el("h1", {}, "Workloads"),
    workloadFilters(),
    el("table", { id: "workloads-table" },
      el("thead", {}, el("tr", {}, ["ID", "Mode", "Backend", "Status", "Created", "Ended", "Usage", "Tags"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No workloads match.")))),
    el("div", { class: "pager" }, previous, next,
      el("span", { class: "muted" }, `${page.offset + (rows.length ? 1 : 0)}–${page.offset + rows.length}`)));
  if (focused) { const again = view.querySelector(`[name="${focused}"]`); if (again) again.focus(); }
}

// ----------------------------------------------------------------------------- session

async function renderSession(id) {
  const page = await api(`/api/sessions/${encodeURIComponent(id)}`);
  const d = page.details;
  const details = el("dl", { class: "details", id: "session-details" },
    Object.entries(d).filter(([k]) => k !== "timestamps").flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-key": k }, v === null ? "—" : String(v))]));
  const jobs = el("table", { id: "session-jobs" },
    el("thead", {}, el("tr", {}, ["Job", "Program", "Status", "Created", "Started", "Ended", "Usage", "Tags"].map((h) => el("th", {}, h)))),
    el("tbody", {}, page.jobs.map((j) => el("tr", { "data-id": j.id },
      el("td", { class: "mono" }, el("a", { href: `#/jobs/${j.id}` }, j.id)), el("td", {}, j.program), el("td", {}, status(j.status)),
      el("td", {}, time(j.created)), el("td", {}, time(j.started)), el("td", {}, time(j.ended)),
      el("td", {}, duration(j.usage)), el("td", {}, tags(j.tags))))));
  view.replaceChildren(
    el("h1", {}, `${page.row.mode === "batch" ? "Batch" : "Session"} `, el("span", { class: "mono" }, d.id), " ", status(d.state)),
    el("div", { class: "card" }, el("h2", {}, "Timeline"), drawTimeline(page.timeline), legend()),
    el("div", { class: "grid2" }, el("div", { class: "card" }, el("h2", {}, "Details"), details),
      el("div", { class: "card" }, el("h2", {}, "State changes"),
        el("table", {}, el("tbody", {}, d.timestamps.map((t) => el("tr", {}, el("td", {}, status(t.status)), el("td", {}, t.timestamp))))))),
    el("h2", {}, `Jobs (${page.jobs.length})`), jobs);
}

function legend() {
  const entries = [["#d0e2ff", "active"], ["#fcf4d6", "inactive"], ["#c6c6c6", "job queued"], ["#24a148", "job running → done"],
    ["#8a3ffc", "interactive-TTL hold"], ["#8d8d8d", "other work on the QPU (anonymous)"], ["#a8a8a8", "max TTL window"]];
  const node = el("div", { class: "legend" });
  for (const [color, text] of entries) {
    const swatch = el("i");
    swatch.style.background = color;
    node.append(el("span", {}, swatch, text));
  }
  return node;
}

function drawTimeline(t) {
  const width = Math.max(700, Math.min(1300, view.clientWidth - 60 || 1000));
  const left = 110, right = 20, rowH = 20, gap = 6;
  const start = t.start;
  let end = Math.max(t.end, start + 1e-3);
  const span = end - start;
  const x = (s) => left + ((Math.min(Math.max(s, start), end) - start) / span) * (width - left - right);
  const rows = 3 + t.jobs.length;
  const height = 30 + rows * (rowH + gap) + 24;
  const root = svg("svg", { id: "timeline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "session timeline", "data-start": start, "data-end": end });
  const defs = svg("defs");
  const hatch = svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  hatch.append(svg("rect", { width: 6, height: 6, fill: "#e8daff" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8a3ffc", "stroke-width": 2 }));
  defs.append(hatch);
  root.append(defs);
  // time axis with ticks
  const axisY = height - 20;
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: axisY, y2: axisY }));
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const s = start + (span * i) / ticks;
    root.append(svg("line", { class: "grid", x1: x(s), x2: x(s), y1: 20, y2: axisY }));
    root.append(svg("text", { x: x(s), y: axisY + 14, "text-anchor": "middle" }, "+" + duration(s - start)));
  }
  let y = 20;
  const label = (text) => root.append(svg("text", { x: 4, y: y + 14 }, text));
  const rect = (cls, a, b, attrs = {}) => {
    const node = svg("rect", { class: cls, x: x(a), y, width: Math.max(1.5, x(b) - x(a)), height: rowH, "data-start": a, "data-end": b, ...attrs });
    root.append(node);
    return node;
  };
  // row 1: the session's state, the max TTL window and the ITTL holds
  label("session");
  if (t.max_ttl) {
    const ttl = rect("maxttl", t.max_ttl[0], Math.min(t.max_ttl[1], end), { height: rowH + 8, y: y - 4 });
    ttl.append(svg("title", {}, `max TTL window: ends ${time(t.max_ttl[1])}`));
    if (t.max_ttl[1] > end) root.append(svg("text", { x: width - right - 4, y: y - 6, "text-anchor": "end", class: "maxttl-label" },
      `max TTL ends in ${duration(t.max_ttl[1] - end)} →`));
  }
  for (const p of t.periods) rect(`period-${p.state}`, p.start, p.end, { "data-state": p.state })
    .append(svg("title", {}, `${p.state} ${duration(p.end - p.start)}`));
  y += rowH + gap;
  label("ITTL holds");
  for (const h of t.holds) rect("hold", h.start, h.end).append(svg("title", {}, `QPU held for the session between jobs: ${duration(h.end - h.start)} (interactive TTL ${duration(t.interactive_ttl)})`));
  y += rowH + gap;
  label("other work");
  for (const b of t.busy) rect("busy", b.start, b.end).append(svg("title", {}, `the QPU ran other work for ${duration(b.end - b.start)}`));
  y += rowH + gap;
  t.jobs.forEach((j, index) => {
    label(`job ${index + 1} · ${short(j.id)}`);
    rect("job-queued", j.queued[0], j.queued[1], { "data-job": j.id }).append(svg("title", {}, `queued ${duration(j.queued[1] - j.queued[0])}`));
    if (j.running) rect(`job-running ${j.status}`, j.running[0], j.running[1], { "data-job": j.id, "data-index": index })
      .append(svg("title", {}, `running ${duration(j.running[1] - j.running[0])} → ${j.status}`));
    y += rowH + gap;
  });
  return root;
}

// ---------------------------------------------------------------------------------- job

async function renderJob(id) {
  const page = await api(`/api/jobs/${encodeURIComponent(id)}`);
  const j = page.job;
  const cancel = el("button", { id: "cancel-job", class: "danger", onclick: async () => {
    cancel.disabled = true;
    try { await api(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" }); } catch (e) { alert(e.message); }
    render();
  } }, "Cancel job");
  cancel.disabled = !["QUEUED", "RUNNING"].includes(j.status);
  const fields = el("dl", { class: "details" },
    [["program", j.program], ["backend", j.backend], ["session", j.session_id ? el("a", { href: `#/sessions/${j.session_id}`, class: "mono" }, j.session_id) : "— (job mode)"],
      ["created", time(j.created)], ["started", time(j.started)], ["ended", time(j.ended)],
      ["queue wait", duration(page.metrics.queue_wait_seconds)], ["usage (QPU s)", duration(j.usage)],
      ["estimated usage (QPU s)", duration(page.metrics.usage.estimated_quantum_seconds)],
      ["simulation time", duration(page.metrics.usage.simulation_seconds)],
      ...(page.metrics.waiting_reason ? [["waiting", page.metrics.waiting_reason]] : []),
      ...(j.status === "RUNNING" && page.metrics.progress ? [["progress", `${Math.round(page.metrics.progress * 100)}%` +
        (page.metrics.remaining_seconds == null ? "" : `, ~${duration(page.metrics.remaining_seconds)} left`)]] : []),
      ["PUBs", page.num_pubs], ["attempts", page.attempts], ["tags", tags(j.tags)],
      ["executor", page.metrics.executor ? JSON.stringify(page.metrics.executor) : "—"]]
      .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const logs = el("pre", { id: "job-logs" }, page.logs.map((l) => `${new Date(l.time * 1000).toISOString()} ${l.level} ${l.text}`).join("\n"));
  view.replaceChildren(
    el("h1", {}, "Job ", el("span", { class: "mono" }, j.id), " ", el("span", { id: "job-status" }, status(j.status)), " ", cancel),
    j.error ? el("p", { class: "error", id: "job-error" }, j.error) : null,
    el("div", { class: "grid2" }, el("div", { class: "card" }, el("h2", {}, "Details"), fields),
      el("div", { class: "card" }, el("h2", {}, "Logs"), logs, el("h2", {}, "Options"), el("pre", { id: "job-options" }, JSON.stringify(page.options, null, 2)))),
    el("div", { class: "card", id: "job-result" }, el("h2", {}, "Result"), page.result ? drawResult(page.result) : el("p", { class: "muted" }, j.status === "DONE" ? "" : `No result: the job is ${j.status}.`)));
}

function drawResult(result) {
  const parts = [];
  result.pubs.forEach((pub, index) => {
    parts.push(el("h2", {}, `PUB ${index}`));
    if (result.program === "estimator") {
      parts.push(el("table", { class: "evs" },
        el("thead", {}, el("tr", {}, el("th", {}, "index"), el("th", {}, "⟨O⟩"), el("th", {}, "± std"))),
        el("tbody", {}, pub.values.map((v) => el("tr", {}, el("td", {}, v.index), el("td", { class: "mono" }, v.ev.toFixed(6)), el("td", { class: "mono" }, "± " + v.std.toFixed(6)))))));
      if (pub.omitted) parts.push(el("p", { class: "muted" }, `${pub.omitted} more values not shown`));
      return;
    }
    for (const register of pub.registers) parts.push(histogram(register));
  });
  return el("div", {}, parts);
}

function histogram(register) {
  const bars = register.top, width = 760, left = 48, bottom = 70, height = 260;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const step = (width - left - 10) / Math.max(1, bars.length);
  const root = svg("svg", { class: "histogram", width, height, "data-register": register.name, role: "img", "aria-label": `counts of register ${register.name}` });
  root.append(svg("text", { x: left, y: 14 }, `register ${register.name}: ${register.shots} shots, ${register.outcomes} outcomes` + (register.outcomes > bars.length ? ` (top ${bars.length} shown)` : "")));
  root.append(svg("line", { class: "axis", x1: left, x2: width - 10, y1: height - bottom, y2: height - bottom }));
  bars.forEach((b, i) => {
    const h = ((height - bottom - 24) * b.count) / max;
    const bx = left + i * step + step * 0.1;
    const bar = svg("rect", { class: "bar", x: bx, y: height - bottom - h, width: step * 0.8, height: h, "data-bits": b.bits, "data-count": b.count });
    bar.append(svg("title", {}, `${b.bits}: ${b.count}`));
    root.append(bar);
    root.append(svg("text", { x: bx + step * 0.4, y: height - bottom - h - 3, "text-anchor": "middle" }, b.count));
    root.append(svg("text", { x: bx + step * 0.4, y: height - bottom + 12, "text-anchor": "end", transform: `rotate(-45 ${bx + step * 0.4} ${height - bottom + 12})`, class: "mono" }, b.bits));
  });
  return root;
}

// ----------------------------------------------------------------------------- backends

async function renderBackends() {
  const list = await api("/api/backends");
  const running = (r) => !r ? "idle" : r.yours ? el("a", { href: `#/jobs/${r.id}`, class: "mono" }, short(r.id)) : "another instance's job";
  const held = (h) => !h ? "—" : h.yours ? el("a", { href: `#/sessions/${h.session_id}`, class: "mono" }, short(h.session_id)) : "another instance's session";
  view.replaceChildren(el("h1", {}, "Backends"), el("table", { id: "backends-table" },
    el("thead", {}, el("tr", {}, ["Backend", "Status", "Qubits", "Queue", "Running job", "Held by session"].map((h) => el("th", {}, h)))),
    el("tbody", {}, list.map((b) => el("tr", { "data-name": b.name },
      el("td", {}, b.name + (b.noisy ? " (noisy)" : "")), el("td", {}, status(b.operational ? "active" : "inactive"), " ", b.status_message),
      el("td", {}, b.num_qubits), el("td", { "data-key": "queue" }, b.queue_length), el("td", {}, running(b.running)), el("td", {}, held(b.held_by)))))));
}

start();
