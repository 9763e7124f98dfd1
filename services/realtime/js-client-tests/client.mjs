// A dashboard connection made with the official socket.io-client, driven over stdin/stdout.
//
//   node client.mjs '<json: {"url", "auth": {"token", "last_event_id"?}}>'
//
// Prints one JSON line per thing that happens: {"kind": "connect"}, {"kind": "event", "name",
// "data"}, {"kind": "connect_error", "data"}, {"kind": "ack", "seq", "data"}, {"kind":
// "disconnect", "reason"}. Reads commands, one JSON line each: {"cmd": "emit", "seq", "event",
// "data"} (answered by "ack") and {"cmd": "close"}. The gateway's certificate is trusted through
// NODE_EXTRA_CA_CERTS.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const options = JSON.parse(process.argv[2]);
const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(options.url, {
  transports: ["websocket"],
  auth: options.auth,
  reconnection: false,
});
socket.on("connect", () => out({ kind: "connect" }));
socket.on("connect_error", (err) => out({ kind: "connect_error", message: err.message, data: err.data ?? null }));
socket.on("disconnect", (reason) => out({ kind: "disconnect", reason }));
socket.onAny((name, data) => out({ kind: "event", name, data }));

createInterface({ input: process.stdin }).on("line", async (line) => {
  const command = JSON.parse(line);
  if (command.cmd === "emit") {
    const answer = await socket.timeout(10000).emitWithAck(command.event, command.data).catch((e) => ({ timeout: String(e) }));
    out({ kind: "ack", seq: command.seq, data: answer });
  } else if (command.cmd === "close") {
    socket.close();
    process.exit(0);
  }
});
