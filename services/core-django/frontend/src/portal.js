// The customer portal: open a ticket, follow your tickets and their public replies, live.
import { api, ApiError } from "./lib/api.js";
import { $, debounce, flash, h, pageData, setStatus } from "./lib/dom.js";
import { dateTime, label, timeAgo } from "./lib/format.js";
import { connectLive } from "./lib/live.js";

const data = pageData();

// --- The list and the form -------------------------------------------------------------------

function ticketItem(t) {
  return h(
    "li",
    { "data-number": t.number, class: "my-ticket" },
    h("a", { href: `/app/portal/tickets/${t.number}/` }, h("span", { class: "t-number" }, `#${t.number}`), " ", t.subject),
    h("span", { class: `badge status-${t.status}` }, label(t.status)),
    h("time", { class: "muted", datetime: t.updated_at, title: dateTime(t.updated_at) }, `updated ${timeAgo(t.updated_at)}`),
  );
}

function startList() {
  const list = $("#my-tickets");
  const status = $("#list-status");
  const seen = new Map();
  async function load(announce = false) {
    const page = await api("/api/v1/tickets/");
    const items = page.results.map((t) => {
      const li = ticketItem(t);
      const before = seen.get(t.number);
      if (announce && before !== undefined && before !== `${t.status}|${t.updated_at}`) flash(li, "changed");
      if (announce && before === undefined) flash(li, "new");
      seen.set(t.number, `${t.status}|${t.updated_at}`);
      return li;
    });
    list.replaceChildren(...items);
    status.textContent = items.length ? "" : "You have no tickets yet.";
  }
  const reload = debounce(() => load(true).catch(() => {}), 200);
  load().catch((err) => (status.textContent = `Could not load your tickets: ${err.message}`));

  const form = $("#new-ticket");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#new-status");
    const subject = form.subject.value.trim();
    const description = form.description.value.trim();
    if (!subject || !description) {
      setStatus(out, "Please fill in the subject and what happened.", "error");
      (subject ? form.description : form.subject).focus();
      return;
    }
    setStatus(out, "Sending…");
    try {
      const ticket = await api("/api/v1/tickets/", {
        method: "POST",
        body: { subject, description, priority: form.priority.value },
      });
      form.reset();
      setStatus(out, `Thanks! Ticket #${ticket.number} is open; we will reply here.`, "ok");
      await load(true);
    } catch (err) {
      const detail = err instanceof ApiError && err.body?.details ? Object.values(err.body.details).flat().join(" ") : "";
      setStatus(out, `Not sent: ${detail || err.message}`, "error");
    }
  });
  connectLive({ onEvent: reload, onResync: () => reload.now(), onReady: (_i, first) => first || reload() });
}

// --- One ticket ------------------------------------------------------------------------------

function startTicket() {
  const number = data.ticket.number;
  const base = `/api/v1/tickets/${number}`;
  const comments = $("#comments");
  let ticket = null;

  function item(c, fresh) {
    const mine = c.author?.id === data.me.id;
    const li = h(
      "li",
      { class: `comment comment-reply${mine ? " from-customer" : " from-agent"}`, "data-id": c.id },
      h(
        "div",
        { class: "comment-head" },
        h("span", { class: "comment-author" }, mine ? "You" : (c.author?.name ?? "Support")),
        h("time", { datetime: c.created_at, title: dateTime(c.created_at) }, timeAgo(c.created_at)),
      ),
      h("div", { class: "comment-body" }, c.body),
    );
    if (fresh) flash(li, "new");
    return li;
  }

  async function load(announce = false) {
    ticket = await api(`${base}/`);
    $("#t-subject-text").textContent = ticket.subject;
    $("#t-meta").replaceChildren(h("span", { class: `badge status-${ticket.status}` }, label(ticket.status)), ` · opened ${timeAgo(ticket.created_at)}`);
    const shown = new Set(Array.from(comments.children, (li) => Number(li.dataset.id)));
    if (!shown.has(0)) comments.append(item({ id: 0, body: ticket.description, author: ticket.requester, created_at: ticket.created_at }, false));
    for (const c of ticket.comments ?? []) if (!shown.has(c.id)) comments.append(item(c, announce));
  }
  const reload = debounce(() => load(true).catch(() => {}), 150);
  load().catch((err) => setStatus($("#reply-status"), `Could not load the ticket: ${err.message}`, "error"));

  const form = $("#reply");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#reply-status");
    const body = form.body.value.trim();
    if (!body) {
      setStatus(out, "Write your reply first.", "error");
      form.body.focus();
      return;
    }
    setStatus(out, "Sending…");
    try {
      await api(`${base}/comments`, { method: "POST", body: { body, public: true } });
      form.reset();
      setStatus(out, "Sent.", "ok");
      await load(true);
    } catch (err) {
      setStatus(out, `Not sent: ${err.message}`, "error");
    }
  });
  form.body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  connectLive({
    onEvent: (_type, event) => {
      if (event.ticket_id === data.ticket.id) reload();
    },
    onResync: () => reload.now(),
    onReady: (_i, first) => first || reload(),
  });
}

if (data.page === "portal-ticket") startTicket();
else startList();
