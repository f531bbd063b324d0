// Structured logs: the user hash is stable, not the id, and remembered, so a
// request does not wait on crypto.subtle for a caller it has hashed before.
import assert from "node:assert/strict";
import { hashUser, log } from "../../supabase/functions/_shared/log.ts";

Deno.test("hashUser: 12 hex digits of SHA-256, computed once per user id", async () => {
  const id = crypto.randomUUID();
  const digest = crypto.subtle.digest.bind(crypto.subtle);
  let calls = 0;
  crypto.subtle.digest = ((alg: AlgorithmIdentifier, data: BufferSource) => {
    calls++;
    return digest(alg, data);
  }) as typeof crypto.subtle.digest;
  try {
    const first = await hashUser(id);
    const expected = Array.from(
      new Uint8Array(await digest("SHA-256", new TextEncoder().encode(`otm:${id}`))).slice(0, 6),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.equal(first, expected);
    assert.match(first, /^[0-9a-f]{12}$/);
    assert.equal(await hashUser(id), first);
    assert.equal(await hashUser(id), first);
    assert.equal(calls, 1, "the second and third calls are answered from the memo");
    const other = await hashUser(crypto.randomUUID());
    assert.notEqual(other, first);
    assert.equal(calls, 2);
  } finally {
    crypto.subtle.digest = digest;
  }
});

Deno.test("log: one JSON line per call, at the level's console method", () => {
  const seen: [string, string][] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  console.log = (l: string) => seen.push(["log", l]);
  console.warn = (l: string) => seen.push(["warn", l]);
  console.error = (l: string) => seen.push(["error", l]);
  try {
    log("info", "a", { n: 1 });
    log("warn", "b");
    log("error", "c", { ok: false });
  } finally {
    Object.assign(console, saved);
  }
  assert.deepEqual(seen.map(([m]) => m), ["log", "warn", "error"]);
  const first = JSON.parse(seen[0][1]);
  assert.equal(first.level, "info");
  assert.equal(first.msg, "a");
  assert.equal(first.n, 1);
  assert.ok(!Number.isNaN(Date.parse(first.at)));
});
