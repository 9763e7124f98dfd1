// One ticket, as an agent works it: conversation, composer with macros, properties, SLA,
// the AI's triage, presence; collisions (412) stopped and explained.
import { api, ApiError } from "./lib/api.js";
import { $, debounce, flash, h, pageData, setStatus } from "./lib/dom.js";
import { countdown, dateTime, label, percent, timeAgo } from "./lib/format.js";
import { ask, connectLive } from "./lib/live.js";

const data = pageData();
const NUMBER = data.ticket.number;
const TICKET_ID = data.ticket.id;
const BASE = `/api/v1/tickets/${NUMBER}`;
const staff = new Map(data.staff.map((u) => [u.id, u.name]));

let ticket = null; // as the API last answered
let draftBase = null; // the ticket as it was when the agent started the current draft
let sla = null;
const correctedHere = {}; // fields this agent corrected on this page (the API records them)
let socket = null;

const els = {
  subject: $("#t-subject-text"),
  meta: $("#t-meta"),
  comments: $("#comments"),
  composer: $("#composer"),
  body: $("#body"),
  send: $("#send"),
  composerStatus: $("#composer-status"),
  props: $("#props"),
  propsStatus: $("#props-status"),
  status: $("#f-status"),
  priority: $("#f-priority"),
  assignee: $("#f-assignee"),
  queue: $("#f-queue"),
  tags: $("#f-tags"),
  sla: $("#sla"),
  triage: $("#triage"),
  presence: $("#presence"),
  stale: $("#stale"),
  staleChanges: $("#stale-changes"),
  macro: $("#macro"),
};

// --- Rendering --------------------------------------------------------------------------------

function options(select, items, value) {
  const wanted = value === null || value === undefined ? "" : String(value);
  const signature = JSON.stringify(items) + wanted;
  if (select.dataset.signature === signature) return;
  select.replaceChildren(...items.map(([v, text]) => h("option", { value: v, selected: String(v) === wanted }, text)));
  select.value = wanted;
  select.dataset.signature = signature;
}

function renderProps() {
  const t = ticket;
  const allowed = [t.status, ...(data.transitions[t.status] ?? [])];
  options(els.status, data.statuses.filter((s) => allowed.includes(s.value)).map((s) => [s.value, s.label]), t.status);
  options(els.priority, data.priorities.map((p) => [p.value, p.label]), t.priority);
  options(els.assignee, [["", "Unassigned"], ...data.staff.map((u) => [u.id, u.name])], t.assignee?.id ?? "");
  options(els.queue, [["", "No queue"], ...data.queues.map((q) => [q.id, q.name])], t.queue?.id ?? "");
  if (document.activeElement !== els.tags) els.tags.value = (t.tags ?? []).join(", ");
  const closed = t.status === "closed";
  for (const el of [els.priority, els.assignee, els.queue, els.status]) el.disabled = closed;
}

function commentItem(c, fresh) {
  const kind = c.public ? "reply" : "note";
  const who = c.author?.name ?? "Someone";
  const li = h(
    "li",
    { class: `comment comment-${kind}${c.author?.role === "customer" ? " from-customer" : ""}`, "data-id": c.id, "data-kind": kind },
    h(
      "div",
      { class: "comment-head" },
      h("span", { class: "comment-author" }, who),
      h("span", { class: `kind-badge kind-${kind}` }, c.public ? "Public reply" : "🔒 Internal note"),
      h("time", { datetime: c.created_at, title: dateTime(c.created_at) }, timeAgo(c.created_at)),
    ),
    h("div", { class: "comment-body" }, c.body),
    c.attachments?.length
      ? h("ul", { class: "attachments" }, c.attachments.map((a) => h("li", {}, h("a", { href: a.url }, a.name))))
      : null,
  );
  if (fresh) flash(li, "new");
  return li;
}

function renderComments(list, { announce = false } = {}) {
  const shown = new Set(Array.from(els.comments.children, (li) => Number(li.dataset.id)));
  const description = {
    id: 0,
    public: true,
    body: ticket.description,
    author: ticket.requester,
    created_at: ticket.created_at,
    attachments: [],
  };
  if (!shown.has(0)) els.comments.append(commentItem(description, false));
  for (const c of list) if (!shown.has(c.id)) els.comments.append(commentItem(c, announce));
}

function renderHeader() {
  const t = ticket;
  els.subject.textContent = t.subject;
  document.title = `#${t.number} ${t.subject} · Helpdesk`;
  els.meta.replaceChildren(
    h("span", {}, `${t.requester?.name ?? "?"}`),
    " · ",
    h("span", { class: `badge status-${t.status}` }, label(t.status)),
    " · ",
    h("span", { class: `badge prio-${t.priority}` }, label(t.priority)),
    " · opened ",
    h("time", { datetime: t.created_at, title: dateTime(t.created_at) }, timeAgo(t.created_at)),
    t.merged_into ? h("span", {}, " · merged into ", h("a", { href: `/app/tickets/${t.merged_into}/` }, `#${t.merged_into}`)) : "",
  );
}

function renderSla() {
  const brief = ticket.sla ?? { state: "none" };
  const parts = [h("p", {}, h("span", { class: `sla sla-${brief.state}`, id: "sla-state" }, label(brief.state === "none" ? "no SLA" : brief.state)))];
  for (const [metric, m] of Object.entries(sla?.metrics ?? {})) {
    const name = metric === "first_response" ? "First response" : "Resolution";
    let text;
    if (m.completed_at) text = `done ${timeAgo(m.completed_at)}${m.breached_at ? " (late)" : ""}`;
    else if (m.due_at && m.running) text = `due ${countdown(m.due_at)}`;
    else if (m.due_at) text = `paused, due ${countdown(m.due_at)} when resumed`;
    else text = "–";
    parts.push(
      h(
        "div",
        { class: `sla-metric sla-${m.state}` },
        h("span", { class: "sla-name" }, name),
        h("span", { class: "sla-when", "data-due": m.due_at ?? "" }, text),
        m.elapsed_share !== null && m.elapsed_share !== undefined
          ? h("progress", { max: 1, value: Math.min(1, m.elapsed_share), "aria-label": `${name}: ${percent(m.elapsed_share)} of the target used` })
          : null,
      ),
    );
  }
  if (sla?.policy) parts.push(h("p", { class: "hint muted" }, `Targets: ${sla.policy.first_response_minutes} min first response, ${sla.policy.resolution_minutes} min resolution (business time${sla.policy.calendar ? `, ${sla.policy.calendar.name}` : ", 24/7"}).`));
  els.sla.replaceChildren(...parts);
}

function triageRow(field, verdict, current, choices) {
  const value = verdict?.label;
  const bar = h("meter", { min: 0, max: 1, value: verdict?.confidence ?? 0, "aria-label": `confidence ${percent(verdict?.confidence)}` });
  const row = h(
    "div",
    { class: "triage-row", "data-field": field },
    h("span", { class: "triage-field" }, label(field)),
    h("span", { class: "triage-label", "data-value": value ?? "" }, label(value ?? "–")),
    h("span", { class: "triage-conf" }, bar, percent(verdict?.confidence)),
  );
  if (!choices || !value) return row;
  const actions = h("div", { class: "triage-actions" });
  if (current === value) {
    actions.append(h("span", { class: "verdict verdict-accepted" }, ticket.triage.applied ? "✓ In use" : "✓ Accepted"));
  } else if (current && correctedHere[field] === current) {
    actions.append(h("span", { class: "verdict verdict-corrected" }, `Corrected to ${label(current)}`));
  } else if (current) {
    actions.append(h("span", { class: "verdict" }, `Ticket: ${label(current)}`));
  } else {
    actions.append(h("span", { class: "verdict" }, "Suggested"));
  }
  if (current !== value) {
    actions.append(h("button", { type: "button", class: "btn btn-small", onclick: () => patch({ [field]: value }, `Accepted the AI's ${field}.`) }, "Accept"));
  }
  const selectId = `correct-${field}`;
  const select = h(
    "select",
    { id: selectId, class: "correct-select" },
    choices.filter((c) => c !== value).map((c) => h("option", { value: c, selected: c === current }, label(c))),
  );
  actions.append(
    h("label", { for: selectId, class: "sr-only" }, `Correct the ${field} to`),
    select,
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        onclick: () => {
          correctedHere[field] = select.value;
          patch({ [field]: select.value }, `Correction recorded: ${field} is ${label(select.value)}.`);
        },
      },
      "Correct",
    ),
  );
  row.append(actions);
  return row;
}

function renderTriage() {
  const t = ticket.triage;
  if (!t) {
    els.triage.replaceChildren(h("p", { class: "muted" }, "Waiting for the AI's verdict…"));
    return;
  }
  const categories = Array.from(new Set([...data.categories, t.category?.label, ticket.category].filter(Boolean))).sort();
  els.triage.replaceChildren(
    triageRow("category", t.category, ticket.category, categories),
    triageRow("priority", t.priority, ticket.priority, data.priorities.map((p) => p.value)),
    triageRow("sentiment", t.sentiment, null, null),
    triageRow("language", t.language, null, null),
    h("p", { class: "hint muted", id: "triage-model" }, `Model ${t.model}${t.triaged_at ? ` · ${timeAgo(t.triaged_at)}` : ""}`),
  );
}

function render({ announce = false } = {}) {
  renderHeader();
  renderProps();
  renderComments(ticket.comments ?? [], { announce });
  renderSla();
  renderTriage();
}

// --- Loading ---------------------------------------------------------------------------------

async function loadSla() {
  try {
    sla = await api(`${BASE}/sla`);
    renderSla();
  } catch {
    /* the brief state from the ticket is shown */
  }
}

async function load({ announce = false } = {}) {
  ticket = await api(`${BASE}/`);
  render({ announce });
  loadSla();
}
const reload = debounce(() => load({ announce: true }).catch(() => {}), 150);

// --- Writing ---------------------------------------------------------------------------------

function changesBetween(before, after) {
  const out = [];
  const name = (u) => u?.name ?? "nobody";
  const fields = [
    ["Status", (t) => label(t.status)],
    ["Priority", (t) => label(t.priority)],
    ["Assignee", (t) => name(t.assignee)],
    ["Queue", (t) => t.queue?.name ?? "none"],
    ["Tags", (t) => (t.tags ?? []).join(", ") || "none"],
    ["Subject", (t) => t.subject],
    ["Category", (t) => label(t.category) || "none"],
  ];
  for (const [title, read] of fields) {
    if (read(before) !== read(after)) out.push(`${title}: ${read(before)} → ${read(after)}`);
  }
  const verdict = (t) => (t.triage ? `${label(t.triage.category?.label)} / ${label(t.triage.priority?.label)}` : "");
  if (verdict(before) !== verdict(after)) out.push(`The AI's triage: ${verdict(after) || "removed"}`);
  const known = new Set((before.comments ?? []).map((c) => c.id));
  for (const c of after.comments ?? []) {
    if (!known.has(c.id)) {
      const what = c.public ? "New reply" : "New internal note";
      const text = c.body.length > 140 ? `${c.body.slice(0, 140)}…` : c.body;
      out.push(`${what} from ${c.author?.name ?? "someone"}: “${text}”`);
    }
  }
  return out.length ? out : ["The ticket was updated (no visible field changed)."];
}

function showStale(current) {
  const base = draftBase ?? ticket;
  els.staleChanges.replaceChildren(...changesBetween(base, current).map((line) => h("li", {}, line)));
  ticket = current;
  render({ announce: true });
  els.stale.hidden = false;
  els.stale.scrollIntoView({ block: "nearest" });
  $("#stale-send").focus();
}

async function patch(changes, done) {
  setStatus(els.propsStatus, "Saving…");
  try {
    ticket = await api(`${BASE}/`, { method: "PATCH", body: changes, ifMatch: ticket.version });
    render({ announce: true });
    setStatus(els.propsStatus, done ?? "Saved.", "ok");
  } catch (err) {
    if (err instanceof ApiError && err.status === 412 && err.body?.current) {
      const lines = changesBetween(ticket, err.body.current);
      ticket = err.body.current;
      render({ announce: true });
      setStatus(els.propsStatus, `Not saved: someone changed this ticket first (${lines.join("; ")}). Check and try again.`, "error");
    } else {
      const detail = err.body?.details ? Object.values(err.body.details).flat().join(" ") : "";
      setStatus(els.propsStatus, `Not saved: ${detail || err.message}`, "error");
      renderProps();
    }
  }
}

function fieldValue(select) {
  return select.value === "" ? null : Number(select.value);
}
els.status.addEventListener("change", () => patch({ status: els.status.value }));
els.priority.addEventListener("change", () => patch({ priority: els.priority.value }));
els.assignee.addEventListener("change", () => patch({ assignee: fieldValue(els.assignee) }));
els.queue.addEventListener("change", () => patch({ queue: fieldValue(els.queue) }));
els.tags.addEventListener("change", () => {
  const tags = els.tags.value
    .split(",")
    .map((t) => t.trim().toLowerCase().replace(/\s+/g, "-"))
    .filter(Boolean);
  patch({ tags });
});
els.props.addEventListener("submit", (e) => e.preventDefault());

function composerKind() {
  return els.composer.querySelector('input[name="kind"]:checked').value;
}
function updateComposerKind() {
  const note = composerKind() === "note";
  els.composer.dataset.kind = note ? "note" : "reply";
  els.send.textContent = note ? "Add internal note" : "Send reply";
  els.body.placeholder = note ? "Write a note only agents will see…" : "Write a reply the customer will see…";
  $("#body-label").textContent = note ? "Write an internal note" : "Reply to the customer";
}
for (const radio of els.composer.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", updateComposerKind);

async function send(ifMatchVersion) {
  const body = els.body.value.trim();
  if (!body) {
    setStatus(els.composerStatus, "Write something first.", "error");
    els.body.focus();
    return;
  }
  const isPublic = composerKind() === "reply";
  els.send.disabled = true;
  setStatus(els.composerStatus, "Sending…");
  try {
    await api(`${BASE}/comments`, { method: "POST", body: { body, public: isPublic }, ifMatch: ifMatchVersion });
    els.body.value = "";
    draftBase = null;
    els.stale.hidden = true;
    presence("viewing");
    await load({ announce: true }); // the new version first: the next change must match it
    setStatus(els.composerStatus, isPublic ? "Reply sent." : "Note added.", "ok");
  } catch (err) {
    if (err instanceof ApiError && err.status === 412 && err.body?.current) {
      setStatus(els.composerStatus, "Not sent: the ticket changed. Review the changes above.", "error");
      showStale(err.body.current);
    } else {
      setStatus(els.composerStatus, `Not sent: ${err.message}`, "error");
    }
  } finally {
    els.send.disabled = false;
  }
}

els.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  send((draftBase ?? ticket).version);
});
els.body.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    els.composer.requestSubmit();
  }
});
$("#stale-send").addEventListener("click", () => {
  draftBase = structuredClone(ticket);
  send(ticket.version);
});
$("#stale-dismiss").addEventListener("click", () => {
  draftBase = structuredClone(ticket); // reviewed: the draft now answers the current ticket
  els.stale.hidden = true;
  els.body.focus();
});

async function loadMacros() {
  try {
    const macros = await api("/api/v1/macros/");
    els.macro.append(...macros.map((m) => h("option", { value: m.id }, m.name)));
  } catch {
    /* no macros */
  }
}
$("#apply-macro").addEventListener("click", async () => {
  const id = els.macro.value;
  if (!id) {
    setStatus(els.composerStatus, "Choose a macro first.", "error");
    els.macro.focus();
    return;
  }
  setStatus(els.composerStatus, "Applying the macro…");
  try {
    ticket = await api(`${BASE}/macros/${id}/apply`, { method: "POST", ifMatch: ticket.version });
    render({ announce: true });
    setStatus(els.composerStatus, `Applied “${els.macro.selectedOptions[0].textContent}”.`, "ok");
    els.macro.value = "";
  } catch (err) {
    if (err instanceof ApiError && err.status === 412 && err.body?.current) {
      ticket = err.body.current;
      render({ announce: true });
      setStatus(els.composerStatus, "Not applied: the ticket changed first. It now shows the change; apply again if it still fits.", "error");
    } else setStatus(els.composerStatus, `Not applied: ${err.message}`, "error");
  }
});

// --- Presence ------------------------------------------------------------------------------

let presenceState = null;
let typingSentAt = 0;
let idleTimer = null;

function presence(state) {
  if (!socket?.connected) return;
  if (state === "typing" && Date.now() - typingSentAt < 2500) return;
  if (state !== "typing" && state === presenceState) return;
  presenceState = state;
  if (state === "typing") typingSentAt = Date.now();
  ask(socket, "presence", { ticket_id: TICKET_ID, state }).then((answer) => {
    if (answer?.ok && answer.presence) renderPresence(answer.presence);
  });
}

els.body.addEventListener("input", () => {
  if (!draftBase && els.body.value.trim()) draftBase = structuredClone(ticket);
  if (!els.body.value.trim()) draftBase = null;
  presence("typing");
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => presence("viewing"), 5000);
});

let presenceVersion = 0;
function renderPresence(payload) {
  if (payload.ticket_id !== TICKET_ID) return;
  if (payload.version && payload.version < presenceVersion) return;
  presenceVersion = payload.version ?? presenceVersion;
  const others = (payload.viewers ?? []).filter((v) => v.user_id !== data.me.id);
  if (!others.length) {
    els.presence.replaceChildren();
    return;
  }
  els.presence.replaceChildren(
    h("span", { class: "presence-label" }, "Also here:"),
    ...others.map((v) =>
      h(
        "span",
        { class: `viewer viewer-${v.state}`, "data-user": v.user_id, "data-state": v.state },
        h("span", { class: "avatar", "aria-hidden": "true" }, (staff.get(v.user_id) ?? "?").slice(0, 1)),
        `${staff.get(v.user_id) ?? `User ${v.user_id}`} ${v.state === "typing" ? "is replying…" : "is viewing"}`,
      ),
    ),
  );
}

// --- Start -----------------------------------------------------------------------------------

updateComposerKind();
load().catch((err) => setStatus(els.composerStatus, `Could not load the ticket: ${err.message}`, "error"));
loadMacros();
setInterval(renderSla, 30_000);
socket = connectLive({
  subscriptions: [{ kind: "ticket", id: TICKET_ID }],
  onEvent: (type, event) => {
    if (event.ticket_id !== TICKET_ID) return;
    if (type === "ticket.merged") setStatus(els.propsStatus, `Merged into #${event.data.into_number}.`, "error");
    reload();
  },
  onResync: () => reload.now(),
  onReady: (_info, first) => {
    presenceState = null;
    presence(els.body.value.trim() ? "typing" : "viewing");
    if (!first || ticket) reload();
  },
  onPresence: renderPresence,
});
window.addEventListener("pagehide", () => presence("left"));
