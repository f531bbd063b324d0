// Where a lone refresh's time goes, measured in the bench process around the
// functions' own parts: the package's TokenManager (the entry the functions
// use) over the functions' Postgres store with each store call timed, and the
// provider call timed at the manager's fetch. Between them, each gap is the
// module's own work at that step (the decision after the read, unsealing and
// building the request after the lease, parsing the answer and sealing the new
// tokens before the write) with the awaits around it.
import { connectPostgres } from "../supabase/functions/_shared/db.ts";
import { readConfig } from "../supabase/functions/_shared/env.ts";
import { PostgresStore } from "../supabase/functions/_shared/store.ts";
import { loadWasm } from "../supabase/functions/_shared/wasm.ts";
import { TokenManager } from "../supabase/functions/_shared/pkg/index.js";
import type { Stack } from "../tests/functions/harness.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function loneRefreshBreakdown(
  s: Stack,
  user: string,
  samples: number,
  label = "",
): Promise<void> {
  const cfg = readConfig((name) => s.env[name]);
  await loadWasm();
  const db = connectPostgres(cfg.databaseUrl!, 4, cfg.databasePrepare);
  // Each sample's calls in order, with their start and end: the gaps between
  // them are the module's own work and the awaits around it.
  let spans: { name: string; t0: number; t1: number }[] = [];
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const span = { name, t0: performance.now(), t1: 0 };
    spans.push(span);
    try {
      return await f();
    } finally {
      span.t1 = performance.now();
    }
  };
  const inner = new PostgresStore(db);
  const store = new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => timed(`store.${String(key)}`, () => value.apply(target, args));
    },
  });
  const fetchTimed = (input: RequestInfo | URL, init?: RequestInit) =>
    timed("provider call", async () => {
      const res = await fetch(input, init);
      const body = await res.arrayBuffer();
      return new Response(body, { status: res.status, headers: res.headers });
    });
  const m = new TokenManager(
    { providers: cfg.providers, encryptionKeys: cfg.encryptionKeys } as ConstructorParameters<
      typeof TokenManager
    >[0],
    store,
    { fetch: fetchTimed },
  );
  const rows = new Map<string, number[]>();
  const add = (key: string, ms: number) => (rows.get(key) ?? rows.set(key, []).get(key)!).push(ms);
  try {
    await m.getValidToken(user, "google");
    for (let i = 0; i < samples; i++) {
      await s.pg
        .sql`update oauth_connections set expires_at = now() - interval '1 second' where user_id = ${user}`;
      spans = [];
      const t0 = performance.now();
      const t = await m.getValidToken(user, "google");
      const t1 = performance.now();
      if (!t.refreshed) throw new Error("the sample did not refresh");
      let last = { name: "the call", t1: t0 };
      for (const span of spans) {
        add(`  the module: ${last.name} .. ${span.name}`, span.t0 - last.t1);
        add(span.name, span.t1 - span.t0);
        last = span;
      }
      add(`  the module: ${last.name} .. its answer`, t1 - last.t1);
      add("getValidToken, in all", t1 - t0);
    }
  } finally {
    await db.close();
  }
  console.log(
    `== where a lone refresh's time goes (in one process, no function around it; median of ${samples})${label}`,
  );
  let module = 0;
  for (const [name, xs] of rows) {
    if (name.startsWith("  the module")) module += median(xs);
    console.log(`  ${name.padEnd(56)} ${median(xs).toFixed(2)} ms`);
  }
  console.log(`  ${"the module's parts together".padEnd(56)} ${module.toFixed(2)} ms`);
}
