// The package as users get it: `npm pack` of pkg/, the tarball installed into
// fresh projects in temp directories (a Node app, a Deno script, a Vite +
// TypeScript app), each making real calls against loopback stubs; a real
// Postgres 15 for the Postgres store and the schema check; and tsc (strict,
// skipLibCheck false) over the READMEs' TypeScript samples.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { launchChromium } from "../e2e/chromium.mjs";
import {
  files,
  freePort,
  fromNpm,
  functionsStub,
  lastJson,
  mustRun,
  run,
  serve,
  staticSite,
  tokenEndpoint,
  tsBlocks,
} from "./helpers.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const DENO = join(ROOT, "node_modules/.bin/deno");
const rootPkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
/** What a user's project would install beside the package; the repo's pins where it has them. */
const VERSIONS = {
  vite: "7.3.8",
  typescript: "5.9.3",
  "@types/node": rootPkg.devDependencies["@types/node"],
  postgres: rootPkg.devDependencies.postgres,
  "@supabase/supabase-js": rootPkg.devDependencies["@supabase/supabase-js"] ?? "2.119.1",
  standardwebhooks: rootPkg.devDependencies.standardwebhooks,
};
const NPM_INSTALL = ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];

/** Runs a command; resolves { code, stdout, stderr } without throwing on a non-zero exit. */

let tmp, tarball, pgDir, pgUrl;
const projects = {};

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "otm-package-"));
  const packed = await mustRun("npm", ["pack", join(ROOT, "pkg"), "--pack-destination", tmp, "--json"], {
    cwd: tmp,
  });
  tarball = join(tmp, JSON.parse(packed.stdout)[0].filename);
  const dep = { "oauth-token-manager": `file:${tarball}` };

  const project = async (name, fixture, manifest) => {
    const dir = join(tmp, name);
    await mkdir(dir, { recursive: true });
    if (fixture) await cp(join(HERE, fixture), dir, { recursive: true });
    await writeFile(
      join(dir, "package.json"),
      JSON.stringify({ name, private: true, type: "module", ...manifest }, null, 2),
    );
    await mustRun("npm", NPM_INSTALL, { cwd: dir });
    projects[name] = dir;
  };
  const pick = (...names) => Object.fromEntries(names.map((n) => [n, VERSIONS[n]]));

  const startPg = async () => {
    pgDir = await mkdtemp(join(tmpdir(), "otm-package-pg-"));
    const port = await freePort();
    await mustRun("bash", [join(ROOT, "scripts/pg.sh"), "start", pgDir, String(port)]);
    pgUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  };

  // Each project installs only what its kind of user would: the Node app the
  // package and postgres.js, the Deno script the package alone, the Vite app
  // the package with Vite, TypeScript and the types its samples use.
  await Promise.all([
    project("node-app", "node-app", { dependencies: { ...dep, ...pick("postgres") } }),
    project("deno-app", "deno-app", { dependencies: dep }),
    project("vite-app", "vite-app", {
      dependencies: dep,
      // standardwebhooks: the README's webhook receiver sample.
      devDependencies: pick(
        "vite",
        "typescript",
        "@types/node",
        "postgres",
        "@supabase/supabase-js",
        "standardwebhooks",
      ),
    }),
    startPg(),
  ]);
});

after(async () => {
  if (pgDir) {
    await run("bash", [join(ROOT, "scripts/pg.sh"), "stop", pgDir]);
    await rm(pgDir, { recursive: true, force: true });
  }
  if (tmp && !process.env.KEEP_PACKAGE_TMP) await rm(tmp, { recursive: true, force: true });
});

describe("the packed package", () => {
  test("holds the license, the README, the entries, the stores, the migrations and the bin, and no placeholder URL", async () => {
    const installed = join(projects["node-app"], "node_modules/oauth-token-manager");
    const list = await files(installed);
    for (
      const f of [
        "LICENSE",
        "README.md",
        "package.json",
        "index.js",
        "index.d.ts",
        "oauth_token_manager.js",
        "oauth_token_manager.d.ts",
        "oauth_token_manager_bg.wasm",
        "browser.js",
        "browser.d.ts",
        "client.js",
        "client_io.js",
        "client.d.ts",
        "browser/oauth_token_manager_browser.js",
        "browser/oauth_token_manager_browser.d.ts",
        "browser/oauth_token_manager_browser_bg.wasm",
        "legacy.js",
        "legacy.d.ts",
        "legacy/oauth_token_manager_legacy.js",
        "legacy/oauth_token_manager_legacy.d.ts",
        "legacy/oauth_token_manager_legacy_bg.wasm",
        "stores/postgres.js",
        "stores/postgres.d.ts",
        "stores/memory.js",
        "stores/memory.d.ts",
        "bin/schema-check.js",
        "migrations/20261122000000_oauth_connections.sql",
      ]
    ) assert.ok(list.includes(f), `${f} is in the package (got ${list.join(", ")})`);
    assert.ok(
      list.some((f) => /^snippets\/.+\/js\/errors\.js$/.test(f)),
      "the error class ships as a snippet",
    );
    const migrations = (await readdir(join(ROOT, "supabase/migrations"))).filter((f) => f.endsWith(".sql"))
      .sort();
    assert.deepEqual(
      list.filter((f) => f.startsWith("migrations/")),
      migrations.map((f) => `migrations/${f}`),
    );

    const license = await readFile(join(installed, "LICENSE"), "utf8");
    assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} oauth-token-manager contributors\n/);
    const pkg = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
    assert.equal(pkg.license, "MIT");
    // ES modules only: require() of one works from Node 20.19 on.
    assert.deepEqual(pkg.engines, { node: ">=20.19" });
    assert.ok(pkg.keywords.includes("supabase") && pkg.keywords.includes("oauth"));
    assert.equal(pkg.bin["oauth-token-manager-schema-check"], "./bin/schema-check.js");
    assert.equal(pkg.peerDependenciesMeta.postgres.optional, true);
    for (
      const sub of [".", "./browser", "./legacy", "./stores/postgres", "./stores/memory", "./migrations/*"]
    ) {
      assert.ok(pkg.exports[sub], `exports ${sub}`);
    }
    for (const f of list.filter((f) => !f.endsWith(".wasm"))) {
      const text = await readFile(join(installed, f), "utf8");
      assert.doesNotMatch(
        text,
        /\bexample\.(invalid|com|org|net)\b|your-?(user|org|name)\/|TODO/i,
        `no placeholder in ${f}`,
      );
    }
    const readme = await readFile(join(installed, "README.md"), "utf8");
    for (
      const topic of [
        "## Browser (Vite)",
        "## Node ≥ 20.19 server",
        "## Deno and Supabase Edge Functions",
        "--allow-read",
      ]
    ) {
      assert.ok(readme.includes(topic), `the README covers ${topic}`);
    }
    // Three builds: the server's (the main entry) without the browser client or the legacy importer,
    // the browser's without the manager, the legacy importer's alone.
    const dts = await readFile(join(installed, "oauth_token_manager.d.ts"), "utf8");
    assert.doesNotMatch(dts, /Symbol\.dispose/);
    assert.match(dts, /export class TokenManager/);
    assert.doesNotMatch(dts, /class BrowserTokenClient/);
    assert.doesNotMatch(dts, /class LegacyImporter/);
    const browserDts = await readFile(join(installed, "browser/oauth_token_manager_browser.d.ts"), "utf8");
    assert.doesNotMatch(browserDts, /Symbol\.dispose/);
    assert.doesNotMatch(browserDts, /class TokenManager\b/);
    assert.doesNotMatch(
      browserDts,
      /class (BrowserTokenClient|ClientCore)\b/,
      "the module's core is not API",
    );
    // The browser client is js/client.js over the browser build's ClientCore.
    const clientDts = await readFile(join(installed, "client.d.ts"), "utf8");
    assert.match(clientDts, /fetch\(\s*input: string \| URL \| Request,\s*init\?: RequestInit/);
    assert.match(clientDts, /onChange\(listener: \(change: ClientChange\) => void\): \(\) => void;/);
    const legacyDts = await readFile(join(installed, "legacy/oauth_token_manager_legacy.d.ts"), "utf8");
    assert.match(legacyDts, /export class LegacyImporter/);
    assert.doesNotMatch(legacyDts, /class (TokenManager|BrowserTokenClient)\b|Symbol\.dispose/);
    // The documentation ships once, in the d.ts; the glue's code carries no copy of it.
    for (
      const [glue, types, doc] of [
        ["oauth_token_manager.js", dts, /A valid access token/],
        ["client.js", clientDts, /A valid access token/],
        ["legacy/oauth_token_manager_legacy.js", legacyDts, /Opens a legacy value/],
      ]
    ) {
      const code = await readFile(join(installed, glue), "utf8");
      assert.doesNotMatch(code, /^\s*(\/\*\*|\/\/)/m, `${glue} has no comment lines`);
      assert.match(code, /^\/\* @ts-self-types="\.\/[a-z_]+\.d\.ts" \*\/$/m, `${glue} still names its types`);
      assert.match(types, doc, `${glue}'s d.ts keeps the docs`);
    }
  });
});

describe("a Node ESM app", () => {
  test("oauth-token-manager/legacy: legacy values resealed bound to their row, read by the main entry, refused in another row", async () => {
    const r = await mustRun(process.execPath, ["legacy.mjs"], { cwd: projects["node-app"] });
    assert.deepEqual(lastJson(r.stdout), {
      isLegacy: true,
      boundFormat: true,
      accessToken: "legacy-access",
      refreshed: false,
      moved: { isTokenManagerError: true, code: "CRYPTO_INTEGRITY" },
      mainEntryHasImporter: false,
    });
  });

  test("await init() with no argument, one refresh with the package's MemoryStore, a TokenManagerError", async () => {
    const provider = tokenEndpoint();
    const server = await serve(provider.handler);
    try {
      const r = await mustRun(process.execPath, ["app.mjs", server.url], { cwd: projects["node-app"] });
      assert.deepEqual(lastJson(r.stdout), {
        accessToken: "served-1",
        refreshed: true,
        events: ["stored", "stored", "refreshed", "failed"],
        error: {
          isTokenManagerError: true,
          isError: true,
          name: "TokenManagerError",
          code: "REAUTH_REQUIRED",
          requiresReauth: true,
          httpStatus: 401,
        },
      });
      assert.deepEqual(provider.calls.map((c) => [c.path, c.form.grant_type, c.form.refresh_token]), [
        ["/ok", "refresh_token", "rt-google"],
        ["/dead", "refresh_token", "rt-spotify"],
      ]);
      assert.doesNotMatch(r.stderr, /warn|deprecated/i, "no warning from init()");
    } finally {
      await server.close();
    }
  });
});

describe("a Deno script", () => {
  test("await init() with --allow-read --allow-net=127.0.0.1, one refresh, a TokenManagerError", async () => {
    const provider = tokenEndpoint();
    const server = await serve(provider.handler);
    try {
      const r = await mustRun(
        DENO,
        ["run", "--quiet", "--no-lock", "--allow-read", "--allow-net=127.0.0.1", "main.ts", server.url],
        { cwd: projects["deno-app"], env: { ...process.env, NO_COLOR: "1" } },
      );
      const out = lastJson(r.stdout);
      assert.equal(out.accessToken, "served-1");
      assert.equal(out.refreshed, true);
      assert.deepEqual(out.error, {
        isTokenManagerError: true,
        isError: true,
        name: "TokenManagerError",
        code: "REAUTH_REQUIRED",
        requiresReauth: true,
        httpStatus: 401,
      });
      assert.equal(provider.calls.length, 2);
    } finally {
      await server.close();
    }
  });

  test("without --allow-read, init() fails naming the read permission", async () => {
    const r = await run(DENO, [
      "run",
      "--quiet",
      "--no-lock",
      "--allow-net=127.0.0.1",
      "main.ts",
      "http://127.0.0.1:9",
    ], {
      cwd: projects["deno-app"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /read access|--allow-read|NotCapable|PermissionDenied/);
  });
});

describe("a Node server on Postgres 15", () => {
  test("the shipped migrations, PostgresStore over postgres.js: one refresh for five callers, the connect methods, STORAGE", async () => {
    const provider = tokenEndpoint();
    const server = await serve(provider.handler);
    try {
      const r = await mustRun(process.execPath, ["postgres.mjs", pgUrl, server.url], {
        cwd: projects["node-app"],
      });
      const out = lastJson(r.stdout);
      assert.deepEqual(
        out.migrations,
        (await readdir(join(ROOT, "supabase/migrations"))).filter((f) => f.endsWith(".sql")).sort(),
      );
      assert.deepEqual(out.tokens, Array(5).fill("served-1"));
      assert.equal(out.refreshedCount, 1);
      assert.equal(provider.calls.length, 1, "one provider call for five concurrent callers");
      assert.equal(out.status, "connected");
      assert.equal(out.sealed, true, "tokens are sealed in the table");
      assert.equal(out.version, 2);
      assert.equal(out.leaseOwner, null);
      assert.deepEqual(out.events, ["stored", "refreshed"]);
      assert.deepEqual(out.claims, ["claimed", "used", "missing"]);
      assert.equal(out.claimedAttempt.codeSealed, null, "the claim returns the attempt as it was");
      assert.deepEqual(out.claimedAttempt.scopes, ["openid", "email"]);
      assert.deepEqual(out.taken, {
        ticketHash: "ticket-1",
        codeSealed: "sealed-code",
        scopes: ["openid", "email"],
      });
      assert.equal(out.takenAgain, null);
      assert.deepEqual(out.loadAll, [["google", "connected", "number"]]);
      assert.equal(out.storageError.code, "STORAGE");
      assert.match(out.storageError.message, /^the database failed/);
    } finally {
      await server.close();
    }
  });

  test("npx oauth-token-manager-schema-check: exit 0 when migrated, 1 naming a missing column and its migration, 2 without a URL", async () => {
    const cwd = projects["node-app"];
    // The package's migrations (safe to run again), so this test does not depend on the one before.
    await mustRun(process.execPath, [
      "--input-type=module",
      "-e",
      `import { readdirSync, readFileSync } from "node:fs"; import { createRequire } from "node:module";
       import { dirname, join } from "node:path"; import postgres from "postgres";
       const dir = dirname(createRequire(join(process.cwd(), "x.js"))
         .resolve("oauth-token-manager/migrations/20261122000000_oauth_connections.sql"));
       const sql = postgres(${JSON.stringify(pgUrl)}, { onnotice: () => {} });
       for (const f of readdirSync(dir).sort()) await sql.unsafe(readFileSync(join(dir, f), "utf8"));
       await sql.end();`,
    ], { cwd });
    const ok = await run(
      "npx",
      ["--no-install", "oauth-token-manager-schema-check", "--database-url", pgUrl],
      { cwd },
    );
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^schema ok/);

    await mustRun(process.execPath, [
      "--input-type=module",
      "-e",
      `import postgres from "postgres"; const sql = postgres(${JSON.stringify(pgUrl)});
       await sql\`alter table public.oauth_connections drop column account_name\`;
       await sql\`drop table public.oauth_connect_attempts\`; await sql.end();`,
    ], { cwd });
    const missing = await run("npx", [
      "--no-install",
      "oauth-token-manager-schema-check",
      `--database-url=${pgUrl}`,
    ], {
      cwd,
    });
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.match(
      missing.stdout,
      /missing column oauth_connections\.account_name: added by 20261124090000_oauth_connect\.sql/,
    );
    assert.match(
      missing.stdout,
      /missing table oauth_connect_attempts: added by 20261124090000_oauth_connect\.sql/,
    );
    assert.match(missing.stdout, /node_modules\/oauth-token-manager\/migrations\//);
    assert.ok(!missing.stdout.includes(pgUrl) && !missing.stderr.includes(pgUrl), "never prints the URL");

    const env = { ...process.env };
    delete env.DATABASE_URL;
    const noUrl = await run("npx", ["--no-install", "oauth-token-manager-schema-check"], { cwd, env });
    assert.equal(noUrl.code, 2);
    assert.match(noUrl.stderr, /no database URL/);
  });
});

/**
 * Opens the Vite app at `siteUrl` in Chromium against a fresh functions stub
 * and checks what the page reports: a token, a fetch with it, a rejection.
 */
async function checkPage(browser, siteUrl) {
  const functions = functionsStub();
  const api = await serve(functions.handler);
  const page = await browser.newPage();
  try {
    const problems = [];
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => m.type() === "warning" && problems.push(`warning: ${m.text()}`));
    // The 401 of the dead connection is expected; a browser asking for /favicon.ico is not the app.
    page.on("response", (r) => {
      const path = new URL(r.url()).pathname;
      if (
        r.status() >= 400 && !(r.status() === 401 && path === "/connections/spotify/token") &&
        path !== "/favicon.ico"
      ) {
        problems.push(`${r.status()} ${path}`);
      }
    });
    await page.goto(`${siteUrl}/?functions=${encodeURIComponent(api.url)}`);
    await page.waitForSelector("#out[data-done]", { timeout: 20_000 });
    const out = JSON.parse(await page.textContent("#out"));
    assert.deepEqual(out, {
      ok: true,
      accessToken: "browser-token-1",
      cached: true,
      apiAuthorization: "Bearer browser-token-1",
      error: { isTokenManagerError: true, code: "REAUTH_REQUIRED", requiresReauth: true },
    });
    assert.deepEqual(
      problems,
      [],
      "no page error, no failed request, no warning (the .wasm is served as such)",
    );
    const refreshCalls = functions.calls.filter((c) => c.path === "/refresh-google-token");
    assert.equal(refreshCalls.length, 1, "the second getAccessToken() is served from the cache");
    assert.match(refreshCalls[0].authorization, /^Bearer ey/, "the session JWT goes to the function");
  } finally {
    await page.close();
    await api.close();
  }
}

describe("a Vite + TypeScript app", () => {
  let browser;
  before(async () => (browser = await launchChromium()));
  after(() => browser?.close());

  test("tsc (strict, skipLibCheck false, default lib, no Node types) && vite build emits the .wasm; in Chromium the page gets a token, fetches with it, catches a TokenManagerError", async () => {
    const dir = projects["vite-app"];
    // As the vanilla-ts template builds: `tsc && vite build`.
    const tsc = await run(join(dir, "node_modules/.bin/tsc"), ["-p", "."], { cwd: dir });
    assert.equal(tsc.code, 0, `tsc over the Vite app:\n${tsc.stdout}${tsc.stderr}`);
    const build = await mustRun(join(dir, "node_modules/.bin/vite"), ["build"], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1" },
    });
    const assets = await readdir(join(dir, "dist/assets"));
    assert.ok(
      assets.some((f) => /^oauth_token_manager_browser_bg-.*\.wasm$/.test(f)),
      `the browser build's .wasm is an asset: ${assets}`,
    );
    assert.ok(
      !assets.some((f) => /^oauth_token_manager_bg-.*\.wasm$/.test(f)),
      `the server build stays out of the page: ${assets}`,
    );
    assert.doesNotMatch(build.stdout + build.stderr, /externalized|node:fs|warning/i, "a clean build");
    const bundle = (await Promise.all(
      assets.filter((f) => f.endsWith(".js")).map((f) => readFile(join(dir, "dist/assets", f), "utf8")),
    )).join("\n");
    assert.ok(!/from\s*["']node:/.test(bundle), "no static node: import in the bundle");

    const site = await serve(staticSite(join(dir, "dist")));
    try {
      await checkPage(browser, site.url);
    } finally {
      await site.close();
    }
  });

  test("a bundle that imports initSync and BrowserTokenClient only (no init) still hands the client its core", async () => {
    // browser.js gives client.js the build's ClientCore as it loads; a bundler
    // trusting sideEffects would skip it for the names it only re-exports.
    const dir = projects["vite-app"];
    const entry = join(dir, "sync-entry.js");
    await writeFile(
      entry,
      'export { initSync, BrowserTokenClient } from "oauth-token-manager/browser";\n',
    );
    const { build } = await import(pathToFileURL(join(dir, "node_modules/vite/dist/node/index.js")).href);
    const out = await build({
      root: dir,
      configFile: false,
      logLevel: "silent",
      build: { write: false, minify: false, lib: { entry, formats: ["es"], fileName: "sync" } },
    });
    const code = [out].flat().flatMap((o) => o.output).filter((c) => c.type === "chunk").map((c) => c.code)
      .join("\n");
    assert.match(code, /BrowserTokenClient/);
    assert.match(code, /clientcore_new/, "the ClientCore class is in the bundle: browser.js ran useCore");
  });

  test("vite dev, with the README's optimizeDeps.exclude: the same page works", async () => {
    const dir = projects["vite-app"];
    const port = await freePort();
    const dev = spawn(
      join(dir, "node_modules/.bin/vite"),
      ["--host", "127.0.0.1", "--port", String(port), "--strictPort"],
      { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      let output = "";
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`vite dev did not start:\n${output}`)), 15_000);
        const seen = (d) => {
          output += d;
          if (output.includes(`:${port}`)) {
            clearTimeout(timer);
            resolve();
          }
        };
        dev.stdout.on("data", seen);
        dev.stderr.on("data", seen);
        dev.on("exit", (code) => reject(new Error(`vite dev exited ${code}:\n${output}`)));
      });
      await checkPage(browser, `http://127.0.0.1:${port}`);
    } finally {
      dev.kill();
    }
  });
});

describe("the READMEs' TypeScript samples", () => {
  test("tsc --noEmit (strict, skipLibCheck false, NodeNext) over the ```ts blocks of README.md and the package README", async () => {
    const dir = projects["vite-app"];
    const docs = join(dir, "docs");
    await mkdir(docs, { recursive: true });
    await cp(join(HERE, "docs-globals.d.ts"), join(docs, "globals.d.ts"));
    const sources = [
      ["README.md", await readFile(join(ROOT, "README.md"), "utf8")],
      ["package README.md", await readFile(join(dir, "node_modules/oauth-token-manager/README.md"), "utf8")],
    ];
    const origin = new Map();
    for (const [label, markdown] of sources) {
      const blocks = tsBlocks(markdown);
      assert.ok(blocks.length > 0, `${label} has TypeScript samples`);
      for (const b of blocks) {
        const name = `${label.replace(/\W+/g, "-")}-L${b.line}.ts`;
        // `export {}` keeps each sample a module of its own (top-level await, own scope).
        await writeFile(join(docs, name), `${fromNpm(b.code)}\nexport {};\n`);
        origin.set(name, { label, line: b.line });
      }
    }
    const tsc = await run(join(dir, "node_modules/.bin/tsc"), ["-p", "tsconfig.docs.json"], { cwd: dir });
    // Point each error at the README line it comes from.
    const mapped = tsc.stdout.replace(/docs\/([^(]+)\((\d+),(\d+)\)/g, (all, file, line, col) => {
      const o = origin.get(file);
      return o ? `${o.label}:${o.line + Number(line) - 1}:${col}` : all;
    });
    assert.equal(tsc.code, 0, `tsc found errors in the samples:\n${mapped}${tsc.stderr}`);
  });
});
