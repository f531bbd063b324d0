// Where a lone refresh's time goes, measured in the bench process around the
// functions' own parts: the package's TokenManager (the entry the functions
// use) over the functions' Postgres store with each store call timed, and the
// provider call timed at the manager's fetch. What is left over is the module
// itself (policy, unsealing, sealing the new tokens, the event) and the awaits
// between the parts.
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
  const times = new Map<string, number[]>();
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      const xs = times.get(name) ?? times.set(name, []).get(name)!;
      xs.push(performance.now() - t0);
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
    timed("provider call (the manager's fetch, body read)", async () => {
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
  try {
    await m.getValidToken(user, "google");
    times.clear();
    for (let i = 0; i < samples; i++) {
      await s.pg
        .sql`update oauth_connections set expires_at = now() - interval '1 second' where user_id = ${user}`;
      const t = await timed("total", () => m.getValidToken(user, "google"));
      if (!t.refreshed) throw new Error("the sample did not refresh");
    }
  } finally {
    await db.close();
  }
  const total = median(times.get("total")!);
  let parts = 0;
  console.log(
    `== where a lone refresh's time goes (in one process, no function around it; median of ${samples})${label}`,
  );
  for (const [name, xs] of times) {
    if (name === "total") continue;
    parts += median(xs);
    console.log(`  ${name.padEnd(48)} ${median(xs).toFixed(2)} ms   (${xs.length / samples} per refresh)`);
  }
  console.log(
    `  ${"the module and the awaits between (the rest)".padEnd(48)} ${(total - parts).toFixed(2)} ms`,
  );
  console.log(`  ${"getValidToken, in all".padEnd(48)} ${total.toFixed(2)} ms`);
}
