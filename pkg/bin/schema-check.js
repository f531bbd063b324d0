#!/usr/bin/env node
// oauth-token-manager-schema-check: does this database have every table and
// column the Postgres store uses? For CI and deploy scripts.
//
//   npx oauth-token-manager-schema-check --database-url postgres://…   (or DATABASE_URL)
//
// Exit 0: it has them. Exit 1: something is missing; each missing table or
// column is named with the migration that adds it. Exit 2: it could not check
// (no URL, no connection, postgres.js not installed). Never prints the URL.
import { relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { EXPECTED, migrationFor, missingSchema } from "../stores/schema.js";

const USAGE =
  "usage: oauth-token-manager-schema-check [--database-url postgres://…]  (default: $DATABASE_URL)";

/** @param {string[]} argv */
function databaseUrl(argv) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") return null;
    if (a === "--database-url") return argv[i + 1] ?? "";
    if (a.startsWith("--database-url=")) return a.slice("--database-url=".length);
    throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  return process.env.DATABASE_URL ?? "";
}

async function main() {
  let url;
  try {
    url = databaseUrl(process.argv.slice(2));
  } catch (e) {
    console.error(`${/** @type {Error} */ (e).message}\n${USAGE}`);
    return 2;
  }
  if (url === null) {
    console.log(USAGE);
    return 0;
  }
  if (!url) {
    console.error(`no database URL: pass --database-url or set DATABASE_URL\n${USAGE}`);
    return 2;
  }
  let postgres;
  try {
    postgres = (await import("postgres")).default;
  } catch {
    console.error("the schema check uses postgres.js: npm install postgres");
    return 2;
  }
  const sql = postgres(url, { max: 1, prepare: false, onnotice: () => {}, connect_timeout: 10 });
  let missing;
  try {
    missing = await missingSchema(async (text, params) => [...(await sql.unsafe(text, params))]);
  } catch (e) {
    const err = /** @type {{ message?: string; code?: string }} */ (e);
    console.error(`could not read the schema: ${err.message ?? e}${err.code ? ` [${err.code}]` : ""}`);
    return 2;
  } finally {
    await sql.end({ timeout: 2 });
  }
  if (missing.length === 0) {
    console.log(`schema ok: ${Object.keys(EXPECTED).join(", ")} have every column the store uses`);
    return 0;
  }
  for (const m of missing) {
    console.log(`missing ${m.includes(".") ? "column" : "table"} ${m}: added by ${migrationFor(m)}`);
  }
  const dir = relative(process.cwd(), fileURLToPath(new URL("../migrations/", import.meta.url))) || ".";
  console.log(
    `apply ${[...new Set(missing.map(migrationFor))].join(" and ")} from ${dir}/ ` +
      "(every migration is safe to run again: applying them all in name order is always right; " +
      "in a Supabase project, supabase db push)",
  );
  return 1;
}

process.exitCode = await main();
