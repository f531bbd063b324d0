// Turns wasm-pack's pkg/ into the npm package, deterministically (the
// committed pkg/ must equal what `make pkg` produces):
// - the entry points from js/ (index.js wraps the glue's init; the stores, the
//   schema check's bin, the supabase-js adapter), with their imports of
//   "../pkg/…" rewritten to paths inside the package;
// - the types of the wasm-bindgen snippets in js/ (js/x.d.ts beside
//   snippets/…/js/x.js), and `TokenManagerError` (the snippet js/errors.js)
//   exported from the main entry;
// - each build's imports with short names, in its .wasm and its glue
//   (scripts/wasm-imports.mjs);
// - the glue's d.ts without `[Symbol.dispose]` (TypeScript's default libs
//   before esnext lack it, so it broke `skipLibCheck: false`; `free()` stays);
// - the SQL migrations, LICENSE, the package README (js/PACKAGE_README.md) and
//   package.json (exports map, bin, engines, optional peer dependencies).
// Safe to run again on a finished pkg/: `node scripts/finish-pkg.mjs` after
// editing js/ refreshes pkg/ without a Rust build.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { shortenImports } from "./wasm-imports.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PKG = join(ROOT, "pkg");
const JS = join(ROOT, "js");
const GLUE = "oauth_token_manager";
/** The browser build (client feature only): wasm-pack's output in pkg/browser/, glue BROWSER_GLUE. */
const BROWSER = "browser";
const BROWSER_GLUE = "oauth_token_manager_browser";
/** The legacy importer's build (legacy feature only): pkg/legacy/, glue LEGACY_GLUE. */
const LEGACY = "legacy";
const LEGACY_GLUE = "oauth_token_manager_legacy";
/** The builds wasm-pack writes into folders of pkg/: [folder, glue]. */
const SUB_BUILDS = [[BROWSER, BROWSER_GLUE], [LEGACY, LEGACY_GLUE]];
const BIN_NAME = "oauth-token-manager-schema-check";
const PLACEHOLDER_HOSTS = /\/\/(?:[^/]*\.)?(?:example\.(?:invalid|com|org|net)|localhost)(?:[:/]|$)/;

/** The package README's source; written as pkg/README.md. */
const README_SOURCE = "PACKAGE_README.md";
/** wasm-pack's own output; everything else in pkg/ is this script's and is written afresh. */
const isWasmPackOutput = (name) =>
  name.startsWith(GLUE) || name === "snippets" || name === "package.json" ||
  SUB_BUILDS.some(([dir]) => name === dir);

const read = (p) => readFileSync(p, "utf8");

/** Every file under `dir`, as sorted paths relative to it. */
function walk(dir, prefix = "") {
  const out = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * A js/ source's text for its place in pkg/: its imports of the repository's
 * pkg/ ("../pkg/x.js" from js/, "../../pkg/x.js" from js/stores/) become
 * paths relative to `dest` inside the package.
 */
function rewrite(text, srcRel, destRel) {
  const depth = srcRel.split("/").length - 1;
  const from = `${"../".repeat(depth + 1)}pkg/`;
  const up = posix.relative(posix.dirname(destRel), ".");
  const to = up ? `${up}/` : "./";
  return text.replaceAll(`"${from}`, `"${to}`).replaceAll(`'${from}`, `'${to}`);
}

function write(destRel, text, mode) {
  const dest = join(PKG, destRel);
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, text);
  if (mode) chmodSync(dest, mode);
}

// --- the glues' declarations ---
const glues = [join(PKG, GLUE), ...SUB_BUILDS.map(([dir, glue]) => join(PKG, dir, glue))];
for (const dtsPath of glues.map((g) => `${g}.d.ts`)) {
  const dts = read(dtsPath)
    .split("\n")
    .filter((line) => line.trim() !== "[Symbol.dispose](): void;")
    .join("\n");
  writeFileSync(dtsPath, dts);
}
// --- the glues' code without its comments ---
// wasm-bindgen copies every doc comment into the glue's JavaScript as JSDoc;
// the same text ships in the d.ts beside it, which is what editors and
// TypeScript read. Dropping the whole-line comments from the .js (code and
// layout untouched) takes 2 KB gzip off what a page or a function downloads.
// Only comments that fill their lines are removed, so no string can be cut.
const JSDOC_BLOCK = /^[ \t]*\/\*\*(?:[^*]|\*(?!\/))*\*\/[ \t]*\n/gm;
const LINE_COMMENT = /^[ \t]*\/\/[^\n]*\n/gm;
for (const gluePath of glues.map((g) => `${g}.js`)) {
  writeFileSync(gluePath, read(gluePath).replace(JSDOC_BLOCK, "").replace(LINE_COMMENT, ""));
}
// --- the imports' short names (scripts/wasm-imports.mjs), in each .wasm and its glue ---
for (const g of glues) {
  const short = shortenImports(readFileSync(`${g}_bg.wasm`), read(`${g}.js`));
  writeFileSync(`${g}_bg.wasm`, short.wasm);
  writeFileSync(`${g}.js`, short.glue);
}
// wasm-pack's package files in the other builds' folders: the package is pkg/'s.
for (const [dir, glue] of SUB_BUILDS) {
  for (const name of readdirSync(join(PKG, dir))) {
    if (!name.startsWith(glue) && name !== "snippets") rmSync(join(PKG, dir, name), { force: true });
  }
}

// --- the entry points ---
// js/ holds two kinds of modules: the package's entries (copied), and the
// wasm-bindgen snippets the glue imports (`#[wasm_bindgen(module = "/js/…")]`),
// which wasm-bindgen already placed under snippets/; their .d.ts go beside them.
/** The snippets a glue imports: js/ path -> path in pkg/ (the glue in pkg/`dir`). */
function snippetsOf(dir, glueName) {
  const out = new Map();
  const text = read(join(PKG, dir, `${glueName}.js`));
  for (const m of text.matchAll(/from ['"]\.\/(snippets\/[^/'"]+\/js\/([^'"]+))['"]/g)) {
    out.set(m[2], dir ? `${dir}/${m[1]}` : m[1]);
  }
  return out;
}
const snippets = snippetsOf("", GLUE);
const subSnippets = SUB_BUILDS.map(([dir, glue]) => [dir, snippetsOf(dir, glue)]);
const snippetTypes = new Set([...snippets.keys()].map((f) => f.replace(/\.js$/, ".d.ts")));

for (const name of readdirSync(PKG)) {
  if (!isWasmPackOutput(name)) rmSync(join(PKG, name), { recursive: true, force: true });
}
const sources = walk(JS).filter((f) =>
  f !== README_SOURCE && !snippets.has(f) && !snippetTypes.has(f) && !/\.test\.[mc]?[jt]s$/.test(f)
);
// The browser client (js/client.js and its helpers) documents itself in
// client.d.ts, as the glues do: its code ships without the whole-line comments.
const DOCUMENTED_IN_TYPES = new Set(["client.js", "client_io.js"]);
for (const src of sources) {
  let text = rewrite(read(join(JS, src)), src, src);
  if (DOCUMENTED_IN_TYPES.has(src)) text = text.replace(JSDOC_BLOCK, "").replace(LINE_COMMENT, "");
  write(src, text, src.startsWith("bin/") ? 0o755 : undefined);
}
for (const [src, dest] of [snippets, ...subSnippets.map(([, map]) => map)].flatMap((m) => [...m])) {
  const types = src.replace(/\.js$/, ".d.ts");
  const typesDest = dest.replace(/\.js$/, ".d.ts");
  if (existsSync(join(JS, types))) write(typesDest, rewrite(read(join(JS, types)), types, typesDest));
}

// TokenManagerError: one class for every build. Each glue constructs its
// snippet's, and each snippet re-exports the one at the root (pkg/errors.js):
// `instanceof` holds across the entries (the legacy importer's errors caught
// by code that imports the main entry's class), and the browser client's own
// JavaScript (client.js) makes the same class.
write("errors.js", rewrite(read(join(JS, "errors.js")), "errors.js", "errors.js"));
write("errors.d.ts", rewrite(read(join(JS, "errors.d.ts")), "errors.d.ts", "errors.d.ts"));
for (const [base, map] of [["index", snippets], ...subSnippets]) {
  const errors = map.get("errors.js");
  if (!errors) continue;
  const root = posix.relative(posix.dirname(errors), "errors.js");
  for (const file of [errors, errors.replace(/\.js$/, ".d.ts")]) {
    write(file, `export { TokenManagerError } from "${root}";\n`);
  }
  const line = `\nexport { TokenManagerError } from "./errors.js";\n`;
  for (const entry of [`${base}.js`, `${base}.d.ts`]) write(entry, read(join(PKG, entry)) + line);
}

// --- migrations, license, readme ---
const migrations = join(ROOT, "supabase", "migrations");
for (const f of readdirSync(migrations).filter((f) => f.endsWith(".sql")).sort()) {
  write(`migrations/${f}`, read(join(migrations, f)));
}
cpSync(join(ROOT, "LICENSE"), join(PKG, "LICENSE"));
write("README.md", read(join(JS, README_SOURCE)));

// --- package.json ---
const meta = JSON.parse(read(join(PKG, "package.json")));
const has = (rel) => existsSync(join(PKG, rel));
const entry = (base) => ({ types: `./${base}.d.ts`, default: `./${base}.js` });
const exports = { ".": entry("index"), "./browser": entry(BROWSER), "./legacy": entry(LEGACY) };
if (has("supabase.js")) exports["./supabase"] = entry("supabase");
exports["./stores/postgres"] = entry("stores/postgres");
exports["./stores/memory"] = entry("stores/memory");
exports["./migrations/*"] = "./migrations/*";
exports[`./${GLUE}_bg.wasm`] = `./${GLUE}_bg.wasm`;
for (const [dir, glue] of SUB_BUILDS) exports[`./${dir}/${glue}_bg.wasm`] = `./${dir}/${glue}_bg.wasm`;
exports["./package.json"] = "./package.json";

const peers = { postgres: "^3.4.0" };
if (has("supabase.js")) peers["@supabase/supabase-js"] = "^2.0.0";
const repoUrl = typeof meta.repository === "string" ? meta.repository : meta.repository?.url;

// npm always packs README.md, LICENSE and package.json.
const files = readdirSync(PKG).filter((f) => !["README.md", "LICENSE", "package.json"].includes(f)).sort();

const out = {
  name: "oauth-token-manager",
  version: meta.version,
  description: meta.description,
  keywords: [
    "oauth",
    "oauth2",
    "refresh-token",
    "token-refresh",
    "supabase",
    "edge-functions",
    "deno",
    "webassembly",
    "google",
    "spotify",
    "discord",
    "github",
  ],
  license: meta.license,
  ...(repoUrl && !PLACEHOLDER_HOSTS.test(repoUrl) ? { repository: meta.repository } : {}),
  type: "module",
  // ES modules only: require() of one is on by default from 20.19.
  engines: { node: ">=20.19" },
  files,
  main: "./index.js",
  types: "./index.d.ts",
  exports,
  bin: { [BIN_NAME]: "./bin/schema-check.js" },
  // browser.js hands the client its core at load (useCore): a bundler that
  // skipped it for the re-exports it forwards would leave the client without one.
  sideEffects: ["./browser.js", "./snippets/*", ...SUB_BUILDS.map(([dir]) => `./${dir}/snippets/*`)],
  peerDependencies: peers,
  peerDependenciesMeta: Object.fromEntries(Object.keys(peers).map((p) => [p, { optional: true }])),
};
writeFileSync(join(PKG, "package.json"), JSON.stringify(out, null, 2) + "\n");
