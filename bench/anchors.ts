// The anchors the token paths are read against, in the same Deno process
// kind as bench/cached_token.ts: google-auth-library's OAuth2Client
// getAccessToken() with a fresh cached token (no network), and a bare async
// Map lookup with an expiry check. Prints "<gal ns/op> <map ns/op>".
import { OAuth2Client } from "npm:google-auth-library@11.3.4";

const N = Number(Deno.args[0] ?? 200_000);

async function timeIt(f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20_000; i++) await f();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await f();
  return ((performance.now() - t0) * 1e6) / N;
}

const client = new OAuth2Client({ clientId: "id", clientSecret: "secret" });
client.setCredentials({
  access_token: "ya29.bench",
  refresh_token: "1//rt",
  expiry_date: Date.now() + 3_600_000,
});
const gal = await timeIt(() => client.getAccessToken());

const map = new Map([["u1:google", { token: "ya29.bench", expiresAt: Date.now() + 3_600_000 }]]);
// deno-lint-ignore require-await
async function lookup(key: string): Promise<string> {
  const e = map.get(key);
  if (!e || e.expiresAt - 300_000 <= Date.now()) throw new Error("stale");
  return e.token;
}
const bare = await timeIt(() => lookup("u1:google"));

console.log(`${gal.toFixed(0)} ${bare.toFixed(0)}`);
