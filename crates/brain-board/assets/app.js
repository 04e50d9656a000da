// brain board: the page. Everything from the queue is put in the page as text (textContent),
// never as HTML, so a task file cannot run script here; the Content-Security-Policy forbids
// inline script as a second wall.
"use strict";

const SESSION = document.querySelector('meta[name="brain-session"]').content;
const pages = { pending: 0, completed: 0, failed: 0 };
let shown = -1;      // the version of the board on screen
let loading = null;  // the fetch under way
let again = false;   // a change arrived while loading

// --- DOM helpers -------------------------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function clear(node, ...kids) {
  node.replaceChildren(...kids.flat().filter(Boolean));
}

function ago(secs) {
  if (secs === null || secs === undefined) return "–";
  const neg = secs < 0;
  let s = Math.abs(secs);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const t = d ? `${d}d${h}h` : h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`;
  return neg ? `-${t}` : t;
}

// The server's clock against this one's, from the board's `now`: ages are counted on the
// server's time, and tick between changes.
let skew = 0;

function since(ts) {
  if (!ts) return null;
  return Math.round((Date.now() + skew - Date.parse(ts)) / 1000);
}

function left(ts, secs) {
  const s = since(ts);
  return s === null ? null : secs - s;
}

function when(ts) {
  if (!ts) return "–";
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString();
}

// A small Markdown reader that builds DOM nodes: headings, paragraphs, lists, quotes, code
// blocks, inline code, bold, italics and http(s) links. Anything else stays text.
function markdown(text) {
  const out = document.createDocumentFragment();
  const lines = String(text || "").replace(/\r\n?/g, "\n").split("\n");
  let para = [], list = null;
  const flush = () => {
    if (para.length) { out.append(el("p", {}, inline(para.join(" ")))); para = []; }
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if (/^```/.test(line)) {
      flush();
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      out.append(el("pre", {}, el("code", {}, code.join("\n"))));
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      flush();
      out.append(el("h" + Math.min(6, m[1].length + 2), {}, inline(m[2])));
    } else if ((m = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line))) {
      if (para.length) { out.append(el("p", {}, inline(para.join(" ")))); para = []; }
      if (!list) { list = el(/^\s*\d/.test(line) ? "ol" : "ul"); out.append(list); }
      list.append(el("li", {}, inline(m[1])));
    } else if ((m = /^>\s?(.*)$/.exec(line))) {
      flush();
      out.append(el("blockquote", {}, inline(m[1])));
    } else if (!line.trim()) {
      flush();
    } else {
      list = null;
      para.push(line.trim());
    }
  }
  flush();
  return out;
}

function inline(text) {
  const frag = document.createDocumentFragment();
  const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\((https?:\/\/[^)\s]+)\))/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    frag.append(text.slice(last, m.index));
    if (m[1]) frag.append(el("code", {}, m[1].slice(1, -1)));
    else if (m[2]) frag.append(el("strong", {}, m[2].slice(2, -2)));
    else if (m[3]) frag.append(el("em", {}, m[3].slice(1, -1)));
    else if (m[4]) {
      const label = m[4].slice(1, m[4].indexOf("]("));
      frag.append(el("a", { href: m[5], rel: "noopener noreferrer", target: "_blank" }, label));
    }
    last = re.lastIndex;
  }
  frag.append(text.slice(last));
  return frag;
}

// --- talking to the server ---------------------------------------------------------------

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const v = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(v.error || `${r.status}`);
  return v;
}

async function change(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Brain-Session": SESSION },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  let v;
  try { v = JSON.parse(text); } catch { v = { error: text.trim() || `${r.status}` }; }
  if (!r.ok) throw new Error(v.error || `${r.status}`);
  return v;
}

function toast(message, bad) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = bad ? "bad" : "good";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 12000 : 5000);
}

// Runs a change from a button; the page refreshes from the server's answer and the event.
// Whether it went through.
async function act(button, path, body) {
  button.disabled = true;
  try {
    const v = await change(path, body);
    toast([v.message, ...(v.notes || [])].join(" "));
    refresh();
    return true;
  } catch (e) {
    toast(e.message, true);
    refresh();
    return false;
  } finally {
    button.disabled = false;
  }
}

// --- the board ---------------------------------------------------------------------------

function card(t, kind, ...extra) {
  const c = el("article", {
    class: `card ${kind}`, tabindex: 0, "data-id": t.id, role: "button",
    "aria-label": `${t.title} (${t.id})`,
    onclick: (e) => { if (!e.target.closest("button, input, textarea, form")) openTask(t.id); },
    onkeydown: (e) => {
      if ((e.key === "Enter" || e.key === " ") && e.target === c) { e.preventDefault(); openTask(t.id); }
    },
  },
  el("div", { class: "title" }, t.title),
  el("div", { class: "id muted" }, t.id),
  extra);
  return c;
}

// What the person has typed in the lane, by field, so that a live update does not lose it.
const drafts = new Map();

function draft(input, key) {
  input.dataset.draft = key;
  if (drafts.has(key)) input.value = drafts.get(key);
  input.addEventListener("input", () => drafts.set(key, input.value));
  return input;
}

function renderNeeds(b) {
  const list = document.getElementById("needs-list");
  const focused = document.activeElement && document.activeElement.dataset.draft;
  const items = [];
  for (const a of b.needs_you.approvals) {
    const reason = draft(el("input", { name: "reason", placeholder: "why not (for Deny)", "aria-label": `reason to deny ${a.task}` }), "deny:" + a.task);
    const approve = el("button", { class: "go", onclick: (e) => act(e.target, "/api/approve", { id: a.task }) }, "Approve");
    const deny = el("button", {
      class: "stop",
      onclick: (e) => {
        if (!reason.value.trim()) { reason.focus(); toast("Give a reason to deny it.", true); return; }
        act(e.target, "/api/deny", { id: a.task, reason: reason.value }).then((ok) => ok && drafts.delete("deny:" + a.task));
      },
    }, "Deny");
    items.push(el("article", { class: "need approval", "data-task": a.task, "data-qid": a.id },
      el("div", { class: "kind" }, "Approval"),
      el("div", { class: "title" }, a.title || a.task),
      el("div", { class: "muted" }, `${a.task} · asked ${when(a.asked)}${a.from ? " by " + a.from : ""}`),
      el("div", { class: "actions" }, approve, reason, deny)));
  }
  for (const q of b.needs_you.questions) {
    const box = draft(el("textarea", { rows: 2, name: "answer", "aria-label": `answer to ${q.id}`, required: true }), "answer:" + q.id);
    const send = el("button", {
      class: "go",
      onclick: (e) => {
        if (!box.value.trim()) { box.focus(); return; }
        act(e.target, "/api/answer", { id: q.id, answer: box.value }).then((ok) => ok && drafts.delete("answer:" + q.id));
      },
    }, "Answer");
    items.push(el("article", { class: "need question", "data-qid": q.id },
      el("div", { class: "kind" }, "Question"),
      el("div", { class: "text" }, markdown(q.text)),
      el("div", { class: "muted" }, `${q.id}${q.from ? " · from " + q.from : ""}${q.task ? " · about " + q.task : ""} · ${when(q.asked)}`),
      el("div", { class: "actions" }, box, send)));
  }
  clear(list, items.length ? items : [el("p", { class: "muted" }, "Nothing waits for you.")]);
  if (focused) {
    const again = list.querySelector(`[data-draft="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  document.getElementById("needs-h").textContent = `Needs you (${items.length})`;
}

function pager(col, data, size) {
  const nav = document.querySelector(`#col-${col} .pager`);
  if (!nav) return;
  if (data.pages <= 1) { clear(nav); return; }
  clear(nav,
    el("button", { disabled: data.page === 0 || null, onclick: () => { pages[col]--; refresh(); } }, "‹ newer"),
    el("span", { class: "muted" }, ` page ${data.page + 1} of ${data.pages} `),
    el("button", { disabled: data.page + 1 >= data.pages || null, onclick: () => { pages[col]++; refresh(); } }, "older ›"));
}

function renderColumns(b) {
  const cards = (col) => document.querySelector(`#col-${col} .cards`);
  clear(cards("pending"), b.pending.items.map((t) => card(t, t.ready ? "ready" : "waits",
    el("div", { class: "why" }, t.ready ? el("span", { class: "pill ok" }, "ready")
      : (t.why || []).map((w) => el("span", { class: "pill wait" }, w.message)),
      el("span", { class: `pill prio-${t.priority}` }, t.priority)))));
  pager("pending", b.pending);
  clear(cards("active"), b.active.map((t) => card(t, "active",
    el("dl", {},
      el("dt", {}, "agent"), el("dd", {}, t.agent || "–"),
      el("dt", {}, "machine"), el("dd", {}, t.machine || "–"),
      el("dt", {}, "claimed"), el("dd", {}, `${ago(since(t.claimed_at))} ago`),
      el("dt", {}, "heartbeat"), el("dd", {}, `${ago(since(t.heartbeat_at))} ago`),
      el("dt", {}, "lease left"), el("dd", { class: left(t.heartbeat_at, t.lease_secs) < 0 ? "late" : "" }, ago(left(t.heartbeat_at, t.lease_secs))),
      el("dt", {}, "timeout in"), el("dd", {}, ago(left(t.claimed_at, t.timeout_secs)))),
    t.log_tail ? el("pre", { class: "tail", "aria-label": "the end of its log" }, t.log_tail) : null)));
  clear(cards("completed"), b.completed.items.map((t) => card(t, "done",
    el("div", { class: "muted" }, `${t.agent || ""} · ${when(t.at)}`))));
  pager("completed", b.completed);
  clear(cards("failed"), b.failed.items.map((t) => card(t, "failed",
    el("div", { class: "reason" }, t.reason || ""),
    el("div", { class: "muted" }, `attempt ${t.attempt}, ${t.attempts_left} left · ${when(t.at)}`),
    el("button", { onclick: (e) => act(e.target, "/api/requeue", { id: t.id }) }, "Requeue"))));
  pager("failed", b.failed);
  for (const [col, n] of Object.entries(b.counts)) {
    document.getElementById(`h-${col}`).textContent = `${col[0].toUpperCase()}${col.slice(1)} (${n})`;
  }
}

function renderSide(b) {
  const r = b.run;
  clear(document.getElementById("run"), el("dl", {},
    el("dt", {}, "last run"), el("dd", {}, r.last ? `${r.last.started}${r.last.completed ? " → " + r.last.completed : " (no end recorded)"}` : "none this week"),
    el("dt", {}, "next run"), el("dd", {}, r.next ? `${when(r.next)} ([run] schedule ${r.schedule})` : "–"),
    el("dt", {}, "paused"), el("dd", {}, r.paused.length ? r.paused.map((p) => `${p.agent} on ${p.machine} until ${when(p.until)}`).join("; ") : "no"),
    el("dt", {}, "usage today"), el("dd", {}, r.today && Object.keys(r.today).length
      ? Object.entries(r.today).map(([a, u]) => `${a}: ${u.sessions} sessions, ${u.tokens} tokens`).join("; ") : "none recorded"),
    el("dt", {}, "5-hour block"), el("dd", {}, r.block || "–")));
  const rem = b.remote;
  clear(document.getElementById("remote"), rem
    ? el("p", {}, `${rem.remote}/${rem.branch}: ${rem.ahead} ahead, ${rem.behind} behind${rem.fetched ? "" : " (as of the last fetch)"}${rem.error ? " — " + rem.error : ""}`)
    : el("p", { class: "muted" }, "no remote ([git] remote)"));
  clear(document.getElementById("warnings"), b.warnings.length
    ? b.warnings.map((w) => el("li", {}, w)) : [el("li", { class: "muted" }, "none")]);
  clear(document.getElementById("activity"), b.activity.map((c) => el("li", {},
    el("span", { class: "subject" }, c.subject),
    el("span", { class: "muted" }, ` ${when(c.at)} · ${c.author}${c.machine ? " on " + c.machine : ""}`))));
}

// Which card or card button has the keyboard focus, to give it back after a re-render (an
// answer box keeps its own, see `draft`).
function focusKey() {
  const a = document.activeElement;
  if (!a || a === document.body || a.dataset.draft) return null;
  const host = a.closest("[data-id], [data-qid]");
  const sec = a.closest("section[id]");
  if (!host || !sec) return null;
  return { sec: sec.id, id: host.dataset.id || host.dataset.qid, self: a === host, label: a.textContent };
}

function refocus(k) {
  if (!k) return;
  const sec = document.getElementById(k.sec);
  if (!sec) return;
  const host = [...sec.querySelectorAll("[data-id], [data-qid]")]
    .find((h) => (h.dataset.id || h.dataset.qid) === k.id);
  if (!host) return;
  const target = k.self ? host : [...host.querySelectorAll("button")].find((b) => b.textContent === k.label);
  if (target) target.focus();
}

let last = null;

function render(b) {
  const focus = focusKey();
  last = b;
  document.getElementById("repo").textContent = b.repo;
  document.getElementById("counts").textContent = `${b.machine}`;
  renderNeeds(b);
  renderColumns(b);
  renderSide(b);
  refocus(focus);
  if (shown < 0) {
    // The first paint with the queue on it (scripts/bench/board.py reads this mark).
    requestAnimationFrame(() => performance.mark("board-painted"));
  }
  shown = b.version;
  document.body.dataset.version = b.version;
}

async function refresh() {
  if (loading) { again = true; return loading; }
  const q = `?pending=${pages.pending}&completed=${pages.completed}&failed=${pages.failed}`;
  loading = getJSON("/api/board" + q)
    .then((b) => { skew = Date.parse(b.now) - Date.now(); render(b); })
    .catch((e) => toast(`The board could not be read: ${e.message}`, true))
    .finally(() => {
      loading = null;
      if (again) { again = false; refresh(); }
    });
  return loading;
}

// --- one task ----------------------------------------------------------------------------

async function openTask(id) {
  const d = document.getElementById("detail");
  let t;
  try { t = await getJSON("/api/task/" + encodeURIComponent(id)); } catch (e) { toast(e.message, true); return; }
  document.getElementById("detail-title").textContent = t.title;
  const m = t.meta || {};
  const rows = [["id", t.id], ["state", t.state], ["agent", t.agent], ["file", t.path],
    ["priority", m.priority], ["requires", (m.requires || []).join(", ")],
    ["preferred agent", m.preferred_interface], ["timeout", m.timeout ? ago(m.timeout) : null],
    ["depends on", (m.depends_on || []).join(", ")], ["approval", m.approval],
    ["unattended", m.unattended === false ? "no" : "yes"], ["not before", m.not_before],
    ["attempt", m.attempt], ["epoch", m.epoch], ["claimed", m.claimed_at], ["heartbeat", m.heartbeat_at],
    ["completed", m.completed_at], ["failed", m.failed_at], ["max turns", m.max_turns],
    ["max budget (USD)", m.max_budget_usd]];
  const why = t.readiness && !t.readiness.ready ? t.readiness.why.map((w) => w.message).join("; ") : null;
  if (why) rows.push(["waits", why]);
  clear(document.getElementById("detail-body"),
    el("dl", { class: "fields" }, rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])),
    el("div", { class: "markdown" }, markdown(t.body)),
    t.log ? [el("h3", {}, `Log (${t.log.path})`), el("pre", { class: "log" }, t.log.tail || "")] : null);
  if (!d.open) d.showModal();
}

// --- the add form ------------------------------------------------------------------------

function addForm() {
  const f = document.getElementById("add");
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => f.elements[n].value.trim();
    const list = (n) => v(n).split(",").map((s) => s.trim()).filter(Boolean);
    const num = (n) => (v(n) ? Number(v(n)) : null);
    const body = {
      title: v("title"), body: f.elements.body.value, priority: v("priority"),
      requires: list("requires"), prefer: v("prefer") || null, timeout: v("timeout") || null,
      depends_on: list("depends_on"), not_before: v("not_before") || null,
      max_turns: num("max_turns"), max_budget_usd: v("max_budget_usd") || null,
      approval: f.elements.approval.checked, unattended: !f.elements.attended.checked,
    };
    const button = f.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const r = await change("/api/add", body);
      toast([r.message, ...(r.notes || [])].join(" "));
      f.reset();
      refresh();
    } catch (err) {
      toast(err.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

// --- live --------------------------------------------------------------------------------

function live() {
  const pill = document.getElementById("live");
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { pill.textContent = "live"; pill.className = "pill ok"; refresh(); });
  es.addEventListener("change", (e) => { if (Number(e.data) !== shown) refresh(); });
  es.addEventListener("error", () => { pill.textContent = "reconnecting…"; pill.className = "pill wait"; });
}

addForm();
refresh();
live();
// Ages and leases tick between changes; the board is asked again now and then all the same.
setInterval(() => { if (last) render(last); }, 10000);
setInterval(refresh, 60000);
