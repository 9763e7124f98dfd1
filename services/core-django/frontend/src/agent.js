// The agent dashboard: sidebar counters, the ticket list, live.
import { api, query } from "./lib/api.js";
import { $, $$, debounce, flash, h, pageData } from "./lib/dom.js";
import { countdown, label, timeAgo } from "./lib/format.js";
import { connectLive } from "./lib/live.js";

const data = pageData();
const staff = new Map(data.staff.map((u) => [u.id, u.name]));
const queues = new Map(data.queues.map((q) => [q.id, q.name]));
const UNSOLVED = new Set(["new", "open", "pending", "on_hold"]);

const tbody = $("#ticket-rows");
const listStatus = $("#list-status");
const moreButton = $("#more");
const sortSelect = $("#sort");
const search = $("#search");

const rows = new Map(); // number -> { row, tr }
let nextUrl = null;
let filters = {};

function readLocation() {
  const params = new URLSearchParams(location.search);
  filters = Object.fromEntries(params.entries());
  if (!Object.keys(filters).length) filters = { status: "unsolved" };
  sortSelect.value = filters.sort === "breach" ? "breach" : "-created";
  search.value = filters.q ?? "";
  markCurrent();
}

function markCurrent() {
  const wanted = JSON.stringify(Object.entries(filters).filter(([k]) => k !== "q").sort());
  let title = "Tickets";
  for (const link of $$("#nav a, #nav-queues a, #nav-saved a")) {
    const linkFilters = JSON.parse(link.dataset.filter);
    const same = JSON.stringify(Object.entries(linkFilters).sort()) === wanted;
    if (same) {
      link.setAttribute("aria-current", "page");
      title = link.firstChild.textContent.trim();
    } else link.removeAttribute("aria-current");
  }
  $("#list-title").textContent = title;
}

function slaCell(row) {
  const state = row.sla_state ?? "none";
  const text = row.sla_due_at && UNSOLVED.has(row.status) ? countdown(row.sla_due_at) : label(state === "none" ? "" : state);
  return h("span", { class: `sla sla-${state}`, title: `SLA: ${label(state)}` }, text || "–");
}

function rowCells(row) {
  return [
    h("td", { class: "c-num" }, `#${row.number}`),
    h("td", { class: "c-subject" }, h("a", { href: `/app/tickets/${row.number}/`, class: "row-link" }, row.subject)),
    h("td", { "data-label": "Status" }, h("span", { class: `badge status-${row.status}`, "data-field": "status" }, label(row.status))),
    h("td", { "data-label": "Priority" }, h("span", { class: `badge prio-${row.priority}`, "data-field": "priority" }, label(row.priority))),
    h("td", { "data-label": "Assignee", "data-field": "assignee" }, row.assignee_id ? (staff.get(row.assignee_id) ?? `#${row.assignee_id}`) : h("span", { class: "muted" }, "Unassigned")),
    h("td", { "data-label": "Queue" }, row.queue_id ? (queues.get(row.queue_id) ?? "") : h("span", { class: "muted" }, "–")),
    h("td", { "data-label": "SLA" }, slaCell(row)),
    h("td", { "data-label": "Updated", class: "muted" }, timeAgo(row.updated_at)),
  ];
}

function signature(row) {
  return [row.subject, row.status, row.priority, row.assignee_id, row.queue_id, row.sla_state, row.sla_due_at, row.updated_at].join("|");
}

function renderRow(row, kind) {
  const existing = rows.get(row.number);
  if (existing && signature(existing.row) === signature(row)) return existing.tr;
  const tr = existing?.tr ?? h("tr", { "data-number": row.number });
  tr.replaceChildren(...rowCells(row));
  tr.dataset.status = row.status;
  rows.set(row.number, { row, tr });
  if (kind) flash(tr, kind);
  return tr;
}

// Put the API's rows in place, reusing the rows already shown (no flicker, focus kept).
function renderList(list, { append = false, announce = false } = {}) {
  const keep = new Set(list.map((r) => r.number));
  if (!append) {
    for (const [number, { tr }] of rows) {
      if (!keep.has(number)) {
        tr.remove();
        rows.delete(number);
      }
    }
  }
  let before = append ? null : tbody.firstChild;
  for (const row of list) {
    const known = rows.has(row.number);
    const changed = known && signature(rows.get(row.number).row) !== signature(row);
    const tr = renderRow(row, announce ? (!known ? "new" : changed ? "changed" : null) : null);
    if (append) tbody.append(tr);
    else {
      if (tr !== before) tbody.insertBefore(tr, before);
      before = tr.nextSibling;
    }
  }
  const count = rows.size;
  listStatus.textContent = count ? `${count}${nextUrl ? "+" : ""} ticket${count === 1 ? "" : "s"}` : "No tickets here.";
  moreButton.hidden = !nextUrl;
}

function listQuery() {
  const params = { ...filters };
  if (params.sort !== "breach") delete params.sort;
  return query(params);
}

let loadSeq = 0;
async function loadList({ announce = false } = {}) {
  const seq = ++loadSeq;
  try {
    const page = await api(`/api/v1/tickets/${listQuery()}`);
    if (seq !== loadSeq) return;
    nextUrl = page.next;
    renderList(page.results, { announce });
  } catch (err) {
    if (seq === loadSeq) listStatus.textContent = `Could not load tickets: ${err.message}`;
  }
}

async function loadMore() {
  if (!nextUrl) return;
  const url = new URL(nextUrl, location.origin);
  const page = await api(url.pathname + url.search);
  nextUrl = page.next;
  renderList(page.results.filter((r) => !rows.has(r.number)), { append: true });
}

async function loadCounters() {
  try {
    const counters = await api("/api/v1/dashboard/counters");
    const perQueue = new Map(counters.queues.map((q) => [`queue:${q.id}`, q.open]));
    for (const link of $$("[data-count]")) {
      const key = link.dataset.count;
      const value = key.startsWith("queue:") ? (perQueue.get(key) ?? 0) : counters[key];
      const span = link.querySelector(".count");
      const text = String(value ?? 0);
      if (span.textContent !== text) {
        if (span.textContent) flash(span, "changed");
        span.textContent = text;
        span.setAttribute("aria-label", `${text} tickets`);
      }
    }
  } catch {
    /* counters are a convenience; the list still works */
  }
}

const refresh = debounce(() => {
  loadList({ announce: true });
  loadCounters();
}, 350);

// Whether a ticket belongs in the list as filtered now (what the client can tell).
function matches(row) {
  if (filters.q || filters.view || filters.tag || filters.sla || filters.priority || filters.requester) return false;
  if (filters.sort === "breach") return false; // needs the SLA due time: the refetch places it
  const status = filters.status;
  if (status === "unsolved" && !UNSOLVED.has(row.status)) return false;
  if (status && status !== "unsolved" && !status.split(",").includes(row.status)) return false;
  if (filters.assignee === "me" && row.assignee_id !== data.me.id) return false;
  if (filters.assignee === "none" && row.assignee_id) return false;
  if (filters.queue && String(row.queue_id) !== filters.queue) return false;
  return true;
}

function onEvent(type, event) {
  const d = event.data ?? {};
  if (type === "ticket.created") {
    const row = {
      id: event.ticket_id,
      number: d.number,
      subject: d.subject,
      status: d.status,
      priority: d.priority,
      assignee_id: d.assignee_id ?? null,
      queue_id: d.queue_id ?? null,
      tags: d.tags ?? [],
      sla_state: "none",
      sla_due_at: null,
      created_at: d.created_at,
      updated_at: d.created_at,
    };
    if (matches(row) && !rows.has(row.number)) {
      tbody.insertBefore(renderRow(row, "new"), tbody.firstChild);
      listStatus.textContent = `New ticket #${row.number}: ${row.subject}`;
    }
  } else if (type === "ticket.updated" && rows.has(d.number)) {
    const row = { ...rows.get(d.number).row, updated_at: event.occurred_at };
    for (const change of d.changes ?? []) {
      if (change.field === "status" || change.field === "priority" || change.field === "subject") row[change.field] = change.new;
      if (change.field === "assignee") row.assignee_id = change.new ? Number(change.new) : null;
      if (change.field === "queue") row.queue_id = change.new ? Number(change.new) : null;
    }
    renderRow(row, "changed");
  }
  refresh();
}

// Keyboard: j/k move between rows, Enter opens (the focused link), / searches.
function moveFocus(step) {
  const links = $$("a.row-link", tbody);
  if (!links.length) return;
  const current = links.indexOf(document.activeElement);
  const next = links[Math.min(links.length - 1, Math.max(0, current + step))] ?? links[0];
  next.focus();
  for (const tr of $$("tr.selected", tbody)) tr.classList.remove("selected");
  next.closest("tr").classList.add("selected");
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? "");
  if (e.key === "/" && !typing) {
    e.preventDefault();
    search.focus();
  } else if (!typing && (e.key === "j" || e.key === "ArrowDown")) {
    e.preventDefault();
    moveFocus(1);
  } else if (!typing && (e.key === "k" || e.key === "ArrowUp")) {
    e.preventDefault();
    moveFocus(-1);
  } else if (e.key === "Escape" && document.activeElement === search) {
    search.blur();
  }
});

function navigate(newFilters) {
  filters = newFilters;
  const params = query(filters);
  history.pushState(null, "", params || location.pathname);
  markCurrent();
  rows.clear();
  tbody.replaceChildren();
  listStatus.textContent = "Loading…";
  loadList();
}

for (const link of $$("#nav a, #nav-queues a, #nav-saved a")) {
  link.addEventListener("click", (e) => {
    e.preventDefault();
    navigate(JSON.parse(link.dataset.filter));
  });
}
sortSelect.addEventListener("change", () => {
  const next = { ...filters };
  if (sortSelect.value === "breach") next.sort = "breach";
  else delete next.sort;
  navigate(next);
});
search.addEventListener(
  "input",
  debounce(() => {
    const next = { ...filters, q: search.value.trim() };
    if (!next.q) delete next.q;
    navigate(next);
  }, 300),
);
moreButton.addEventListener("click", loadMore);
window.addEventListener("popstate", () => {
  readLocation();
  rows.clear();
  tbody.replaceChildren();
  loadList();
});
// Countdowns and "updated" times age: redraw the cells now and then.
setInterval(() => {
  for (const { row, tr } of rows.values()) if (!tr.contains(document.activeElement)) tr.replaceChildren(...rowCells(row));
}, 30_000);

readLocation();
loadList();
loadCounters();
connectLive({
  onEvent,
  onResync: () => refresh.now(),
  onReady: (_info, first) => {
    // Events between the first fetch and joining the rooms: one refetch closes that gap.
    if (first) refresh();
  },
});
