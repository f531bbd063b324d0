// Copies what the edge functions need from pkg/ into supabase/functions/_shared/pkg/,
// so that nothing a function imports or reads lives outside supabase/functions/
// (`supabase functions deploy` bundles only that folder, with or without
// --use-api). What is copied: the wasm and its .d.ts, the JS glue and the
// package's Postgres store with every module they import by relative path
// (wasm-bindgen's snippets, the store's schema), each with its .d.ts. `make
// pkg` runs it after building pkg/.
//
//   node scripts/sync-functions-pkg.mjs          copy (the folder then holds exactly these files)
//   node scripts/sync-functions-pkg.mjs --check  exit 1 naming each file that differs from pkg/
//   --from DIR                                    another build of pkg/ (e.g. a commit's, extracted)
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;
const from = process.argv.indexOf("--from");
const SRC = from > 0 ? process.argv[from + 1] : join(ROOT, "pkg");
const DEST = join(ROOT, "supabase/functions/_shared/pkg");
/** The modules the functions import: the glue, the main entry (its TokenManager remembers fresh answers), and the package's Postgres store (one copy of the SQL). */
const ENTRIES = ["oauth_token_manager.js", "index.js", "stores/postgres.js"];
const WASM = "oauth_token_manager_bg.wasm";
const NOTE = "README.md";
const NOTE_TEXT = `# Generated: do not edit

A copy of the package's wasm, JS glue and types from \`pkg/\`, made by \`make pkg\`
(scripts/sync-functions-pkg.mjs) so that the edge functions need nothing outside
\`supabase/functions/\`. \`make test\` checks that it matches \`pkg/\`.
`;

/** Relative module specifiers a JS file imports or re-exports (static and dynamic). */
function relativeImports(source) {
  const out = new Set();
  const patterns = [
    /\bimport\s+(?:[^'"]*?\sfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bexport\s+[^'"]*?\sfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.add(m[1]);
  return [...out];
}

/** The files to copy, relative to pkg/: the glue's import closure, their .d.ts, the wasm and its .d.ts. */
function wanted() {
  const files = new Set([WASM]);
  const queue = [...ENTRIES];
  while (queue.length) {
    const file = queue.shift();
    if (files.has(file)) continue;
    if (!existsSync(join(SRC, file))) {
      throw new Error(`pkg/${file} is missing (imported by the glue): run make pkg`);
    }
    files.add(file);
    const types = file.replace(/\.js$/, ".d.ts");
    if (types !== file && existsSync(join(SRC, types))) files.add(types);
    for (const spec of relativeImports(readFileSync(join(SRC, file), "utf8"))) {
      queue.push(posix.normalize(posix.join(posix.dirname(file), spec)));
    }
  }
  if (existsSync(join(SRC, `${WASM}.d.ts`))) files.add(`${WASM}.d.ts`);
  for (const f of files) {
    if (f.startsWith("..")) throw new Error(`the glue imports ${f}, outside pkg/`);
  }
  return [...files].sort();
}

function listTree(dir, base = dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? listTree(p, base) : [relative(base, p).split("\\").join("/")];
  });
}

const digest = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

const files = wanted();
const expected = new Map(files.map((f) => [f, digest(join(SRC, f))]));

if (process.argv.includes("--check")) {
  const problems = [];
  for (const [f, hash] of expected) {
    const at = join(DEST, f);
    if (!existsSync(at)) problems.push(`missing: ${f}`);
    else if (digest(at) !== hash) problems.push(`differs from pkg/: ${f}`);
  }
  for (const f of listTree(DEST)) {
    if (!expected.has(f) && f !== NOTE) problems.push(`not in pkg/: ${f}`);
  }
  if (!existsSync(join(DEST, NOTE)) || readFileSync(join(DEST, NOTE), "utf8") !== NOTE_TEXT) {
    problems.push(`missing or changed: ${NOTE}`);
  }
  if (problems.length) {
    console.error(
      `supabase/functions/_shared/pkg/ is not a copy of pkg/:\n  ${problems.join("\n  ")}\n` +
        "run 'node scripts/sync-functions-pkg.mjs' (make pkg does) and commit it",
    );
    process.exit(1);
  }
  console.log(`supabase/functions/_shared/pkg/ matches pkg/ (${files.length} files)`);
} else {
  rmSync(DEST, { recursive: true, force: true });
  for (const f of files) {
    mkdirSync(dirname(join(DEST, f)), { recursive: true });
    writeFileSync(join(DEST, f), readFileSync(join(SRC, f)));
  }
  writeFileSync(join(DEST, NOTE), NOTE_TEXT);
  console.log(`copied ${files.length} files from pkg/ to supabase/functions/_shared/pkg/`);
}
