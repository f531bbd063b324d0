// The runtime's start on a cold isolate: the wasm is loaded and the manager
// built while the first statement waits for the database, and a schema
// problem is still the error reported. A database stand-in whose answer the
// test releases, so the order is observed, not timed.
import assert from "node:assert/strict";
import type { Db } from "../../supabase/functions/_shared/db.ts";
import { readConfig } from "../../supabase/functions/_shared/env.ts";
import { AppError } from "../../supabase/functions/_shared/errors.ts";
import { errorCodes } from "../../supabase/functions/_shared/pkg/oauth_token_manager.js";
import { buildRuntime } from "../../supabase/functions/_shared/runtime.ts";

const ENV: Record<string, string> = {
  GOOGLE_CLIENT_ID: "id",
  GOOGLE_CLIENT_SECRET: "secret",
  TOKEN_ENCRYPTION_KEYS: "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  JWT_SECRET: "secret",
};

/** A database whose first answer waits for `answer()`; it answers with no columns (every table missing). */
function heldDb() {
  let answer!: () => void;
  const answered = new Promise<void>((r) => (answer = r));
  let queries = 0;
  const db: Db = {
    async query<T>() {
      queries++;
      await answered;
      return [] as T[];
    },
    close: async () => {},
  };
  return { db, answer, queries: () => queries };
}

const wasmLoaded = () => {
  try {
    return errorCodes().length > 0;
  } catch {
    return false;
  }
};

Deno.test("runtime: a wasm that fails to load and a schema that is missing: the schema is reported", async () => {
  Deno.env.set("OTM_WASM_PATH", "/nonexistent/oauth_token_manager_bg.wasm");
  try {
    const { db, answer } = heldDb();
    const started = buildRuntime({ cfg: readConfig((n) => ENV[n]), db });
    answer();
    await assert.rejects(started, (e: unknown) => e instanceof AppError && e.code === "SCHEMA_MISMATCH");
  } finally {
    Deno.env.delete("OTM_WASM_PATH");
  }
});

Deno.test("runtime: the wasm is loaded while the database has not answered", async () => {
  assert.equal(wasmLoaded(), false, "a fresh isolate");
  const { db, answer, queries } = heldDb();
  const started = buildRuntime({ cfg: readConfig((n) => ENV[n]), db });
  // Bounded: the database never answers on its own, so only the start's own
  // work (reading and compiling the wasm) can end this loop early.
  for (let i = 0; i < 400 && !wasmLoaded(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(wasmLoaded(), true, "the wasm was loaded while the schema check waited");
  assert.equal(queries(), 1);
  answer();
  await assert.rejects(started, (e: unknown) => e instanceof AppError && e.code === "SCHEMA_MISMATCH");
});
