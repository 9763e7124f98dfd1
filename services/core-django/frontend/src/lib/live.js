// The page's realtime connection: the official socket.io-client through the gateway
// (same origin, /socket.io/, WebSocket only, as the realtime service serves it).
//
// Authentication: a token from core (POST /api/v1/realtime/token, 15 minutes), renewed before
// it expires ("token.expiring" -> "renew"). Each (re)connection sends the offset of the last
// event processed as last_event_id, so the server replays what was missed; when it cannot,
// it says "resync" and the page refetches its state over the REST API. Delivery is at least
// once: events are de-duplicated on their id.
import { io } from "socket.io-client";
import { api } from "./api.js";

export const EVENT_TYPES = [
  "ticket.created",
  "ticket.updated",
  "comment.created",
  "ticket.merged",
  "sla.warning",
  "sla.breached",
];

const STATE_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  resynced: "Live · resynced",
  offline: "Offline",
};

function showState(state, detail = "") {
  const el = document.getElementById("conn");
  if (!el) return;
  el.dataset.state = state;
  const text = el.querySelector(".conn-text");
  const words = detail ? `${STATE_TEXT[state]} · ${detail}` : STATE_TEXT[state];
  if (text && text.textContent !== words) text.textContent = words;
  el.title = `Realtime connection: ${words}`;
}

export function connectLive({
  subscriptions = [],
  onEvent = () => {},
  onResync = () => {},
  onReady = () => {},
  onPresence = () => {},
} = {}) {
  let token = null;
  let tokenExp = 0;
  let lastOffset = null;
  let pendingResync = false;
  let readyCount = 0;
  const seen = new Set();
  const seenOrder = [];

  async function freshToken() {
    if (token && Date.now() / 1000 < tokenExp - 60) return token;
    const answer = await api("/api/v1/realtime/token", { method: "POST" });
    token = answer.token;
    tokenExp = Date.parse(answer.expires_at) / 1000;
    return token;
  }

  const socket = io({
    path: "/socket.io/",
    transports: ["websocket"],
    reconnectionDelay: 300,
    reconnectionDelayMax: 3000,
    randomizationFactor: 0.3,
    auth: (cb) => {
      freshToken()
        .then((t) => {
          const auth = { token: t, subscriptions };
          if (lastOffset) auth.last_event_id = lastOffset;
          cb(auth);
        })
        .catch(() => cb({}));
    },
  });
  showState("connecting");

  const retrySoon = (ms) => setTimeout(() => socket.connected || socket.connect(), ms);

  socket.on("connect_error", (err) => {
    const code = err?.data?.code;
    showState("reconnecting");
    if (!socket.active) {
      // Refused by the server (not a network error): it does not retry on its own.
      if (code === "token_expired" || code === "token_missing" || code === "invalid_token") token = null;
      retrySoon(code === "too_many_connections" ? 5000 : 1000);
    }
  });
  socket.on("disconnect", (reason) => {
    showState("reconnecting");
    if (reason === "io server disconnect") retrySoon(500); // e.g. token expired on the server
  });

  socket.on("resync", (info) => {
    if (info?.offset) lastOffset = info.offset;
    pendingResync = true;
    onResync(info?.reason ?? "resync");
  });
  socket.on("ready", (info) => {
    if (info?.offset) lastOffset = info.offset;
    readyCount += 1;
    if (pendingResync) {
      showState("resynced");
      pendingResync = false;
    } else if (readyCount > 1) {
      showState("live", info?.replayed ? `caught up (${info.replayed} missed)` : "caught up");
    } else {
      showState("live");
    }
    onReady(info, readyCount === 1, socket);
  });
  // The node is going away: everything up to `offset` was sent; reconnect (to another node).
  socket.on("reconnect", (info) => {
    if (info?.offset) lastOffset = info.offset;
  });
  socket.on("token.expiring", async () => {
    try {
      token = null;
      socket.emit("renew", { token: await freshToken() });
    } catch {
      /* the next reconnect fetches one */
    }
  });
  socket.on("token.expired", () => {
    token = null;
  });
  socket.on("presence.changed", (payload) => onPresence(payload));

  for (const name of EVENT_TYPES) {
    socket.on(name, (envelope) => {
      if (envelope?.offset) lastOffset = envelope.offset;
      if (!envelope?.id || seen.has(envelope.id)) return;
      seen.add(envelope.id);
      seenOrder.push(envelope.id);
      if (seenOrder.length > 2000) seen.delete(seenOrder.shift());
      onEvent(name, envelope);
    });
  }

  window.addEventListener("pagehide", () => socket.close());
  return socket;
}

// Ask for something and wait for the acknowledgement (or give up after a while).
export function ask(socket, event, data, ms = 5000) {
  return socket.timeout(ms).emitWithAck(event, data).catch(() => ({ ok: false }));
}
