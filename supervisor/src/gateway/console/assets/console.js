// The Convotic console's script (embedded in the binary): progressive enhancement of the
// server-rendered pages. It refreshes fragments, posts buttons with the CSRF token, sends the
// "try it" and node forms as JSON, tests connections and follows live logs over SSE.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function post(url, body, json) {
  const headers = { "X-CSRF-Token": csrf() };
  if (json) headers["Content-Type"] = "application/json";
  return fetch(url, { method: "POST", headers, body: json ? JSON.stringify(body) : undefined,
    credentials: "same-origin", redirect: "follow" });
}

// Elements with data-refresh replace their content from that URL every data-every ms.
function refreshFragments() {
  for (const el of document.querySelectorAll("[data-refresh]")) {
    const every = Number(el.dataset.every || 3000);
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const response = await fetch(el.dataset.refresh, { credentials: "same-origin" });
        if (response.ok) el.innerHTML = await response.text();
      } catch (_) { /* the next tick tries again */ }
    }, every);
  }
  // Tables with data-refresh-page reload their page's copy of themselves.
  for (const table of document.querySelectorAll("table[data-refresh-page]")) {
    setInterval(async () => {
      if (document.hidden) return;
      const response = await fetch(location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(table.id);
      if (fresh) table.tBodies[0].innerHTML = fresh.tBodies[0].innerHTML;
    }, Number(table.dataset.refreshPage));
  }
}

// Buttons with data-post (in tables that refresh) and forms with data-confirm.
function wireButtons() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-post]");
    if (button) {
      event.preventDefault();
      if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
      button.disabled = true;
      const response = await post(button.dataset.post);
      const url = new URL(response.url, location.href);
      const error = url.searchParams.get("error");
      if (!response.ok || error) alert(error || `${response.status} ${await response.text()}`);
      button.disabled = false;
      return;
    }
    const test = event.target.closest("button[data-json-post]");
    if (test) {
      event.preventDefault();
      const out = test.parentElement.querySelector(".result");
      out.textContent = "testing…";
      const response = await post(test.dataset.jsonPost, {}, true);
      const body = await response.json().catch(() => ({}));
      out.textContent = body.ok === true ? ` ok ${body.message || ""}`
        : ` failed: ${body.message || body.error?.message || response.status}`;
    }
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// "Try it" forms and node forms: JSON to the console's action, answer shown below.
function wireJsonForms() {
  for (const form of document.querySelectorAll("form.try")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = form.querySelector("pre.result");
      out.textContent = "sending…";
      const response = await post(form.dataset.action, {
        method: form.elements.method.value, path: form.elements.path.value, body: form.elements.body.value,
      }, true);
      if (!response.ok) { out.textContent = `${response.status} ${await response.text()}`; return; }
      const answer = await response.json();
      let body = answer.body;
      try { body = JSON.stringify(JSON.parse(body), null, 2); } catch (_) { /* not JSON */ }
      out.textContent = `HTTP ${answer.status}\n${body}`;
    });
  }
  for (const form of document.querySelectorAll("form.node-invoke")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = form.querySelector("pre.result");
      let input = {};
      try { input = nodeInput(form); } catch (e) { out.textContent = e.message; return; }
      out.textContent = "invoking…";
      const connection = form.querySelector("[data-connection]")?.value || "";
      const response = await post(form.dataset.action,
        { input, version: form.dataset.version, connection_id: connection }, true);
      if (!response.ok) { out.textContent = `${response.status} ${await response.text()}`; return; }
      const answer = await response.json();
      out.textContent = `HTTP ${answer.status}\n${JSON.stringify(answer.body, null, 2)}`;
    });
  }
}

// The node's input object from its generated fields.
function nodeInput(form) {
  const whole = form.querySelector("[data-whole]");
  if (whole) return JSON.parse(whole.value || "{}");
  const input = {};
  for (const field of form.querySelectorAll("[data-field]")) {
    const name = field.dataset.field;
    const type = field.dataset.type;
    if (type === "boolean") { input[name] = field.checked; continue; }
    if (field.value === "") continue;
    if (type === "integer" || type === "number") input[name] = Number(field.value);
    else if (type === "json") {
      try { input[name] = JSON.parse(field.value); } catch (_) { throw new Error(`${name}: not valid JSON`); }
    } else input[name] = field.value;
  }
  return input;
}

// Live logs: EventSource with pause and filter.
function followLogs() {
  const section = document.querySelector("section[data-stream]");
  if (!section) return;
  const list = document.getElementById("log-lines");
  const status = document.getElementById("logs-status");
  const filter = document.getElementById("logs-filter");
  const pauseButton = document.getElementById("logs-pause");
  let paused = false;
  const held = [];
  const matches = (li) => !filter.value || li.textContent.toLowerCase().includes(filter.value.toLowerCase());
  const show = (li) => {
    li.hidden = !matches(li);
    list.appendChild(li);
    while (list.children.length > 2000) list.firstElementChild.remove();
    list.scrollTop = list.scrollHeight;
  };
  const source = new EventSource(section.dataset.stream);
  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.onmessage = (event) => {
    const line = JSON.parse(event.data);
    const li = document.createElement("li");
    li.className = line.stream;
    li.dataset.seq = line.seq;
    li.textContent = `${new Date(line.ts_ms).toISOString().slice(11, 23)} ${line.stream} ${line.text}`;
    if (paused) {
      held.push(li);
      if (held.length > 2000) held.shift();
    } else show(li);
  };
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    status.textContent = paused ? "paused" : "live";
    if (!paused) held.splice(0).forEach(show);
  });
  filter.addEventListener("input", () => {
    for (const li of list.children) li.hidden = !matches(li);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  refreshFragments();
  wireButtons();
  wireJsonForms();
  followLogs();
});
