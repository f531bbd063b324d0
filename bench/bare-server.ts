// The functions server with one more function for `make bench`: bare-select,
// the baseline of the hot path. It is what refresh-google-token is without the
// token manager: the same handler (CORS, the caller's JWT, the runtime, the
// request log, JSON) and the same one SELECT through the same store, whose row
// it answers without unsealing anything. Not deployed: it lives here, not in
// supabase/functions/.
//
//   deno run -A bench/bare-server.ts --port <port>
import { edgeFunction } from "../supabase/functions/_shared/handler.ts";
import { PostgresStore } from "../supabase/functions/_shared/store.ts";
import { functionsHandler } from "../scripts/functions-server.ts";

let store: PostgresStore | undefined;

const bareSelect = edgeFunction("bare-select", ["POST"], async ({ caller, rt }) => {
  store ??= new PostgresStore(rt.db);
  const row = await store.load({ userId: caller.userId, provider: "google" });
  return { body: { expiresAt: row?.expiresAt ?? null, tokenRefreshedAt: row?.tokenRefreshedAt ?? null } };
});

const i = Deno.args.indexOf("--port");
Deno.serve(
  {
    hostname: "127.0.0.1",
    port: i >= 0 ? Number(Deno.args[i + 1]) : 54321,
    onListen: ({ port }) => console.log(JSON.stringify({ level: "info", msg: "functions listening", port })),
  },
  (req) =>
    new URL(req.url).pathname === "/functions/v1/bare-select" ? bareSelect(req) : functionsHandler(req),
);
