// The live page's first load, behind the same NATS permissions as its live
// updates. A page asks `snapshot.<label>.<key>` (one row) or
// `snapshot.<label>.all` (every row) by NATS request; this service answers
// with the rows as JSON, read from PostgreSQL at that moment. It never checks
// who asks: a request reaches it only if the asking user may publish to that
// subject (nats.conf), which is the one place where viewers' rights are written.
// A static file of every row would let any viewer download what NATS refuses it.
//
// Run by examples/live-page/run with NATS_URL and the PG* environment set;
// prints "ready" once subscribed.
import { connect } from "@nats-io/transport-node";
import { execFile } from "node:child_process";

const label = "users_updated";

// The rows of `users` that `token` names ("all", or one integer key), as a
// JSON array. A psql variable carries the key, so it is never spliced into SQL.
async function query(token) {
  if (token !== "all" && !/^[0-9]+$/.test(token)) return "[]";
  const statement =
    "SELECT coalesce(json_agg(u ORDER BY id), '[]') FROM users u WHERE :'token' = 'all' OR u.id::text = :'token'";
  const child = execFile("psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", `token=${token}`]);
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stdin.end(statement);
  const code = await new Promise((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`psql exited ${code}`);
  return output.trim();
}

const connection = await connect({ servers: process.env.NATS_URL, user: "snapshot", pass: "snapshot" });
const subscription = connection.subscribe(`snapshot.${label}.>`);
await connection.flush();
console.log("ready");
for await (const request of subscription) {
  const token = request.subject.slice(`snapshot.${label}.`.length);
  query(token)
    .then((rows) => request.respond(rows))
    .catch((error) => request.respond(JSON.stringify({ error: error.message })));
}
