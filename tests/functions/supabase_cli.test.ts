// The deployable layout, checked with the real Supabase CLI (npm `supabase`)
// wherever it runs without Docker or the network: it parses config.toml with
// no unknown keys; `db push` applies supabase/migrations to a Postgres 15 the
// way `supabase db push` does a project's (its own migration history), and
// `migration list` agrees; `db advisors` (Supabase's database linter) finds no
// security or performance warning; `gen types` reads the schema. Beside it,
// what the CLI only checks at deploy time: every function has a config.toml
// section, its static files resolve inside supabase/functions/, and nothing a
// function imports lives outside supabase/functions/ (deno info).
import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { freePort } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}node_modules/.bin/supabase`;
const CLI_VERSION = "3.1.0";
const FUNCTIONS = `${ROOT}supabase/functions/`;
const WASM = "./functions/_shared/pkg/oauth_token_manager_bg.wasm";

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, code: out.code, text };
}

/** The CLI against this checkout (--workdir: no search upwards), failing on any warning about config.toml. */
async function cli(...args: string[]) {
  const r = await run(CLI, ["--workdir", ".", ...args]);
  assert.ok(r.ok, `supabase ${args.join(" ")} exited ${r.code}:\n${r.text}`);
  assert.doesNotMatch(
    r.text,
    /config\.toml/i,
    `supabase ${args.join(" ")} warned about config.toml:\n${r.text}`,
  );
  return r.text;
}

/** config.toml's [functions.<name>] sections and their static_files (the file is ours: a plain subset of TOML). */
function functionSections(toml: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string | null = null;
  for (const line of toml.split("\n")) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      const m = /^functions\.([A-Za-z0-9_-]+)$/.exec(header[1]);
      current = m ? m[1] : null;
      if (current) sections.set(current, []);
      continue;
    }
    const files = /^\s*static_files\s*=\s*(\[.*\])\s*$/.exec(line);
    if (current && files) sections.set(current, JSON.parse(files[1]));
  }
  return sections;
}

const functionDirs = () =>
  [...Deno.readDirSync(FUNCTIONS)].filter((e) => e.isDirectory && !e.name.startsWith("_")).map((e) => e.name)
    .sort();

Deno.test({
  name: "the Supabase CLI accepts the project; functions need nothing outside supabase/functions/",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await t.step(`the CLI is the pinned ${CLI_VERSION}, from npm`, async () => {
      const r = await run(CLI, ["--version"]);
      assert.ok(r.ok, r.text);
      assert.equal(r.text.trim(), CLI_VERSION);
    });

    await t.step("config.toml parses, with no key the CLI does not know", async () => {
      // `services` loads and parses config.toml offline; unknown keys are a warning, type errors fatal.
      const text = await cli("services");
      assert.match(text, /supabase\/edge-runtime/);
    });

    await t.step(
      "every function has a config.toml section bundling the wasm from supabase/functions/",
      async () => {
        const sections = functionSections(await Deno.readTextFile(`${ROOT}supabase/config.toml`));
        const dirs = functionDirs();
        assert.deepEqual([...sections.keys()].sort(), dirs, "one [functions.<name>] per function directory");
        for (const [name, files] of sections) {
          assert.ok(files.includes(WASM), `${name} bundles the wasm`);
          for (const f of files) {
            // Static files resolve against supabase/ (the CLI joins them with its directory).
            const path = new URL(f, `file://${ROOT}supabase/`).pathname;
            assert.ok(path.startsWith(FUNCTIONS), `${name}: ${f} is outside supabase/functions/`);
            assert.ok((await Deno.stat(path)).isFile, `${name}: ${f} does not exist`);
          }
        }
      },
    );

    await t.step(
      "nothing a function imports lives outside supabase/functions/; npm: imports are pinned",
      async () => {
        type Dep = { specifier: string; code?: { specifier: string }; type?: { specifier: string } };
        type Module = { specifier: string; dependencies?: Dep[] };
        for (const name of functionDirs()) {
          const r = await run(Deno.execPath(), ["info", "--json", `supabase/functions/${name}/index.ts`]);
          assert.ok(r.ok, r.text);
          const modules = (JSON.parse(r.text.slice(r.text.indexOf("{"))).modules as Module[])
            .filter((m) => m.specifier.startsWith(`file://${FUNCTIONS}`));
          assert.ok(modules.length > 3, `${name}: deno info listed its modules`);
          for (const m of modules) {
            for (const d of m.dependencies ?? []) {
              if (d.specifier.startsWith("npm:")) {
                // Supabase resolves these from npm at deploy.
                assert.match(
                  d.specifier,
                  /^npm:(@[^/]+\/)?[^@]+@\d+\.\d+\.\d+/,
                  `${m.specifier}: ${d.specifier}`,
                );
                continue;
              }
              for (const to of [d.code?.specifier, d.type?.specifier]) {
                if (to === undefined || to.startsWith("node:")) continue;
                assert.ok(to.startsWith(`file://${FUNCTIONS}`), `${m.specifier.slice(7)} imports ${to}`);
              }
            }
          }
        }
      },
    );

    const dir = await Deno.makeTempDir({ prefix: "otm-cli-pg-" });
    const port = freePort();
    const pg = await run("bash", ["scripts/pg.sh", "start", dir, String(port)]);
    assert.ok(pg.ok, pg.text);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      // What a Supabase project has before our migrations: auth.users, the API roles, pg_cron's absence.
      await sql.unsafe(await Deno.readTextFile(`${ROOT}tests/functions/supabase_bootstrap.sql`));
      const migrations = [...Deno.readDirSync(`${ROOT}supabase/migrations`)].map((e) => e.name)
        .filter((n) => n.endsWith(".sql")).sort();

      await t.step(
        "supabase db push applies every migration; migration list agrees; a second push has nothing",
        async () => {
          const pushed = await cli("db", "push", `--remote=${url}`, "--yes");
          for (const m of migrations) assert.match(pushed, new RegExp(`Applying migration ${m}`));
          const history =
            await sql`select version from supabase_migrations.schema_migrations order by version`;
          assert.deepEqual(history.map((r) => r.version), migrations.map((m) => m.split("_")[0]));
          const listed = await cli("migration", "list", `--remote=${url}`);
          for (const m of migrations) {
            const v = m.split("_")[0];
            assert.match(listed, new RegExp(`${v}\`?\\s*\\|\\s*\`?${v}`), `${v} local and remote`);
          }
          assert.match(await cli("db", "push", `--remote=${url}`, "--yes"), /up to date/);
        },
      );

      await t.step("supabase db advisors: no security or performance warning", async () => {
        const text = await cli(
          "db",
          "advisors",
          `--remote=${url}`,
          "--type",
          "all",
          "--level",
          "warn",
          "--fail-on",
          "warn",
        );
        assert.match(text, /No issues found/);
      });

      await t.step("supabase gen types reads the tables", async () => {
        const types = await cli("gen", "types", "typescript", `--remote=${url}`, "--schema", "public");
        for (const table of ["oauth_connections", "oauth_refresh_events", "oauth_connect_attempts"]) {
          assert.match(types, new RegExp(`"${table}"`));
        }
      });
    } finally {
      await sql.end({ timeout: 1 });
      await run("bash", ["scripts/pg.sh", "stop", dir]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
