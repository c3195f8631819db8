// The live page: loads its rows from the snapshot service, then keeps each
// one fresh from the ectowatch messages the bridge publishes into NATS. The
// page reads no database: a message carries the watcher's extra columns, so a
// row is updated in place from the message alone. Who may see which rows is
// decided by the NATS server (nats.conf), for the snapshot (which subjects
// the user may send requests to) and for the updates (which it may
// subscribe to) alike, once per request or subscription, not once per change.
import { wsconnect } from "@nats-io/nats-core";

const params = new URLSearchParams(location.search);
const settings = {
  server: params.get("nats") ?? "ws://127.0.0.1:9222",
  user: params.get("user") ?? "viewer",
  password: params.get("password") ?? params.get("user") ?? "viewer",
  label: params.get("label") ?? "users_updated",
  prefix: params.get("prefix") ?? "ectowatch",
  // Only these keys (comma-separated), each with its own subscription; all
  // rows of the label with one wildcard subscription when absent.
  keys: params.get("keys")?.split(",").filter((k) => k !== "") ?? null,
};

const statusLine = document.getElementById("status");
const errorList = document.getElementById("errors");
const tableBody = document.querySelector("#rows tbody");

function showStatus(text) {
  statusLine.textContent = text;
  statusLine.dataset.state = text;
}

function showError(text) {
  const item = document.createElement("li");
  item.textContent = text;
  errorList.append(item);
}

// One <tr data-key="..."> per row; cells named by column.
function renderRow(row) {
  const key = String(row.id);
  let tr = tableBody.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.key = key;
    for (const column of ["id", "name", "email"]) {
      const td = document.createElement("td");
      td.dataset.column = column;
      tr.append(td);
    }
    tableBody.append(tr);
  }
  for (const td of tr.children) {
    const value = row[td.dataset.column];
    if (value !== undefined) td.textContent = value ?? "";
  }
  tr.dataset.updates = String(Number(tr.dataset.updates ?? -1) + 1);
}

function removeRow(key) {
  tableBody.querySelector(`tr[data-key="${CSS.escape(String(key))}"]`)?.remove();
}

// The snapshot: one request for every row, or one per key. A request the
// user may not send is refused by the server and shown; its rows never arrive.
async function loadRows() {
  const base = `snapshot.${settings.label}`;
  const subjects = settings.keys === null ? [`${base}.all`] : settings.keys.map((key) => `${base}.${key}`);
  const answers = await Promise.all(
    subjects.map((subject) =>
      connection.request(subject, "", { timeout: 5000 }).then(
        (reply) => JSON.parse(new TextDecoder().decode(reply.data)),
        (error) => {
          showError(`${subject}: ${error.message}`);
          return [];
        },
      ),
    ),
  );
  tableBody.replaceChildren();
  for (const rows of answers) for (const row of rows) renderRow(row);
}

// A message is the JSON line `ectowatch listen` prints: label, table, op, row.
// Resync markers (truncated, dropped) mean rows may have changed unseen: the
// page reloads its snapshot.
function applyMessage(message) {
  const event = JSON.parse(new TextDecoder().decode(message.data));
  if (!event.row || event.op === "truncated") {
    loadRows().catch((error) => showError(`reload failed: ${error.message}`));
    return;
  }
  if (event.op === "deleted") removeRow(event.row.id);
  else renderRow(event.row);
  // Every subject received, for the browser test to inspect.
  (window.__subjects ??= []).push(message.subject);
}

function subscribe(connection, subject) {
  connection.subscribe(subject, {
    callback: (error, message) => {
      if (error) {
        // The server refused the subscription (nats.conf permissions).
        showError(`${subject}: ${error.message}`);
        return;
      }
      applyMessage(message);
    },
  });
}

let connection;

async function main() {
  showStatus("connecting");
  connection = await wsconnect({
    servers: settings.server,
    user: settings.user,
    pass: settings.password,
    // Replies come to this user's own inbox subjects (nats.conf).
    inboxPrefix: `_INBOX_${settings.user}`,
  });
  const base = `${settings.prefix}.${settings.label}`;
  // Keys are integers here, which the bridge's subject escaping leaves as
  // they are (docs/protocol.md); markers have subjects of their own.
  const markers = ["~truncated", "~dropped", "~resync"].map((marker) => `${base}.${marker}`);
  const subjects = settings.keys === null ? [`${base}.>`] : [...settings.keys.map((key) => `${base}.${key}`), ...markers];
  for (const subject of subjects) subscribe(connection, subject);
  await connection.flush();
  // Subscribed first, then loaded: a change committed in between is seen
  // by both, never by neither.
  showStatus("loading");
  await loadRows();
  showStatus("live");
  for await (const status of connection.status()) {
    // A refused subscription is reported by its own callback above.
    if (status.type === "error" && status.error?.name !== "PermissionViolationError") {
      showError(status.error.message);
    }
    if (status.type === "disconnect") showStatus("reconnecting");
    if (status.type === "reconnect") {
      // Messages published while the page was away are not replayed to a
      // plain subscription: reload the snapshot.
      await loadRows();
      showStatus("live");
    }
  }
}

main().catch((error) => {
  showStatus("failed");
  showError(error.message);
});
