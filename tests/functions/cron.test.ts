// The README's Supabase Cron schedule (deploy step 6), run as written on a real
// pg_cron (Debian's postgresql-15-cron, 1.4.2), with stand-ins for pg_net and
// Vault (supabase_stand_ins.sql, their documented signatures): the SQL block is
// read from README.md at test time, with a real secret key for `sb_secret_…`
// and this stack's function URL for `https://<ref>.supabase.co/…`. The job must
// be scheduled every 5 minutes; made to fire within a minute, it must call
// net.http_post with exactly the function URL, the key from Vault in `apikey`,
// JSON, and {"withinSeconds": 900}. That request, replayed against the
// functions, runs the refresher (200, JSON); with a wrong key it is 401.
import assert from "node:assert/strict";
import { counters, startStack, USER } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const KEY_PLACEHOLDER = "sb_secret_…";
const URL_PLACEHOLDER = "https://<ref>.supabase.co/functions/v1/refresh-expiring-tokens";
const README_SCHEDULE = "*/5 * * * *";

function randomSecretKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `sb_secret_${btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "")}`;
}

/** The ```sql block of README.md that schedules the refresher, dedented. */
async function readmeCronBlock(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const blocks = [...readme.matchAll(/^([ \t]*)```sql\n([\s\S]*?)^[ \t]*```/gm)]
    .map(([, indent, body]) => body.split("\n").map((l) => l.startsWith(indent) ? l.slice(indent.length) : l))
    .map((lines) => lines.join("\n"));
  const block = blocks.find((b) => b.includes("cron.schedule('refresh-expiring-tokens'"));
  if (!block) {
    throw new Error("README.md has no ```sql block with cron.schedule('refresh-expiring-tokens', …)");
  }
  for (const p of [KEY_PLACEHOLDER, URL_PLACEHOLDER]) {
    if (!block.includes(p)) {
      throw new Error(`README.md's cron block no longer contains the placeholder ${p}: update this test`);
    }
  }
  return block;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "the README's Supabase Cron schedule runs the refresher (pg_cron, pg_net and Vault stand-ins)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const key = randomSecretKey();
    const wrongKey = randomSecretKey();
    /** Error messages and logs never carry a key's value. */
    const redact = (s: string) => s.replaceAll(key, "<the key>").replaceAll(wrongKey, "<the wrong key>");
    const block = await readmeCronBlock();
    const s = await startStack({ cron: true, env: { SUPABASE_SECRET_KEYS: JSON.stringify({ cron: key }) } });
    try {
      const { sql } = s.pg;
      const fnUrl = `${s.fns[0].url}/refresh-expiring-tokens`;
      await sql.unsafe(await Deno.readTextFile(`${ROOT}tests/functions/supabase_stand_ins.sql`));
      const ready = block.replaceAll(KEY_PLACEHOLDER, key).replaceAll(URL_PLACEHOLDER, fnUrl);
      const readmeCommand = /cron\.schedule\('refresh-expiring-tokens',\s*'([^']*)',\s*\$\$([\s\S]*?)\$\$\)/
        .exec(ready);
      assert.ok(readmeCommand, "the README's cron.schedule call has the form ('name', 'schedule', $$…$$)");

      let jobId = 0;
      await t.step("the README's SQL runs and schedules the job every 5 minutes", async () => {
        try {
          await sql.unsafe(ready);
        } catch (e) {
          // Only the message: the error object carries the query, which holds the key.
          throw new Error(`the README's cron SQL failed: ${redact(String((e as Error).message))}`);
        }
        const jobs = await sql`select jobid, jobname, schedule, command, database, username, active
          from cron.job where jobname = 'refresh-expiring-tokens'`;
        assert.equal(jobs.length, 1, "one job named refresh-expiring-tokens");
        const [job] = jobs;
        jobId = Number(job.jobid);
        assert.equal(job.schedule, README_SCHEDULE);
        assert.equal(readmeCommand[1], README_SCHEDULE, "the README schedules it every 5 minutes");
        assert.equal(job.command, readmeCommand[2], "the job runs the README's command");
        assert.ok(!job.command.includes(key), "the command reads the key from Vault, it does not hold it");
        assert.deepEqual([job.database, job.username, job.active], ["postgres", "postgres", true]);
        // Vault keeps it encrypted; only decrypted_secrets reads it back.
        const [v] = await sql`select s.secret = ${key} as plain, d.decrypted_secret = ${key} as decrypts
          from vault.secrets s join vault.decrypted_secrets d using (id) where s.name = 'otm_refresher_key'`;
        assert.deepEqual(v, { plain: false, decrypts: true }, "the key is in Vault as otm_refresher_key");
      });

      let run: Record<string, unknown> = {};
      await t.step("made to fire every minute, it runs and calls net.http_post", async () => {
        // pg_cron 1.4's finest schedule is a minute: the next run is at most 60 s away.
        await sql`select cron.alter_job(${jobId}::bigint, schedule := '* * * * *')`;
        const deadline = Date.now() + 75_000;
        let last: Record<string, unknown>[] = [];
        while (Date.now() < deadline) {
          last = await sql`select runid, status, return_message, start_time, end_time
            from cron.job_run_details where jobid = ${jobId} order by runid`;
          const ok = last.find((r) => r.status === "succeeded");
          if (ok) {
            run = ok;
            break;
          }
          if (last.some((r) => r.status === "failed")) break;
          await sleep(250);
        }
        assert.equal(
          run.status,
          "succeeded",
          `no successful run within 75 s; runs: ${redact(JSON.stringify(last))}`,
        );
        // Stop it, let a run under way finish, and count: one request per run.
        await sql`select cron.unschedule(${jobId}::bigint)`;
        while (Date.now() < deadline + 10_000) {
          const [{ n }] = await sql`select count(*)::int as n from cron.job_run_details
            where jobid = ${jobId} and status in ('starting', 'running')`;
          if (n === 0) break;
          await sleep(250);
        }
        const [{ runs }] = await sql`select count(*)::int as runs from cron.job_run_details
          where jobid = ${jobId} and status = 'succeeded'`;
        const [{ calls }] = await sql`select count(*)::int as calls from net.stand_in_requests`;
        assert.equal(calls, runs, "one net.http_post per successful run");
      });

      const requests = await sql`select method, url, params, headers, body, timeout_milliseconds, at
        from net.stand_in_requests order by id`;
      await t.step("the recorded request is exactly the README's", () => {
        assert.ok(requests.length >= 1, "net.http_post was called");
        for (const r of requests) {
          const { apikey, ...rest } = r.headers as Record<string, string>;
          assert.ok(apikey === key, "headers.apikey is the key from Vault (value not shown)");
          assert.deepEqual(rest, { "Content-Type": "application/json" }, "the other headers");
          assert.equal(r.method, "POST");
          assert.equal(r.url, fnUrl);
          assert.deepEqual(r.body, { withinSeconds: 900 });
          assert.deepEqual(r.params, {});
          assert.equal(
            r.timeout_milliseconds,
            150_000,
            "longer than a pass's budget, not pg_net's default 5 s",
          );
          assert.ok((r.at as Date) >= (run.start_time as Date), "recorded by the cron run");
        }
      });

      const replay = async (apikey: string) => {
        const r = requests[0];
        const res = await fetch(r.url, {
          method: r.method,
          headers: { ...r.headers, apikey },
          body: JSON.stringify(r.body),
        });
        const text = await res.text();
        s.bodies.push({ fn: "refresh-expiring-tokens", text }); // the stack's leak check reads it
        assert.ok(!text.includes(key) && !text.includes(wrongKey), "no key in the response body");
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          assert.fail(`not JSON (${res.status}): ${redact(text).slice(0, 200)}`);
        }
        return { status: res.status, json: json as Record<string, unknown> };
      };

      await t.step("replayed, the request runs the refresher; with a wrong key it is 401", async () => {
        await s.connect(USER);
        await sql`update oauth_connections set expires_at = now() + interval '5 minutes', token_refreshed_at = now() - interval '55 minutes'
          where user_id = ${USER}`;

        const before = await counters(s);
        const wrong = await replay(wrongKey);
        assert.equal(wrong.status, 401, redact(JSON.stringify(wrong.json)));
        assert.equal(wrong.json.code, "UNAUTHORIZED");
        assert.equal(
          (await counters(s)).refreshGrants,
          before.refreshGrants,
          "a wrong key refreshes nothing",
        );

        const ok = await replay(key);
        assert.equal(ok.status, 200, redact(JSON.stringify(ok.json)));
        assert.ok(
          ok.json !== null && typeof ok.json === "object" && !Array.isArray(ok.json),
          "a JSON object",
        );
        assert.equal(
          (await counters(s)).refreshGrants - before.refreshGrants,
          1,
          "the connection due within 900 s was refreshed",
        );
      });

      await t.step("no key value in any function log line", () => {
        for (const line of s.fns.flatMap((f) => f.logs)) {
          assert.ok(
            !line.includes(key) && !line.includes(wrongKey),
            `a log line leaks a key: ${redact(line)}`,
          );
        }
      });
    } finally {
      await s.stop();
    }
  },
});
