// A Vite + TypeScript page as a user writes it against the installed package
// (its browser build, oauth-token-manager/browser):
// init() with no argument (Vite emits the .wasm as an asset), a
// BrowserTokenClient over the functions URL given as ?functions=, one token,
// one fetch with the bearer attached, one rejection from a dead connection.
import init, { BrowserTokenClient, TokenManagerError } from "oauth-token-manager/browser";

const out = document.querySelector<HTMLPreElement>("#out")!;
const functionsUrl = new URLSearchParams(location.search).get("functions") ?? "";
// A session JWT as Supabase issues it; the client reads only its `sub`.
const b64url = (v: object) =>
  btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
const session = `${b64url({ alg: "HS256", typ: "JWT" })}.${
  b64url({ sub: "user-1", aud: "authenticated" })
}.sig`;

async function run() {
  await init();
  const client = new BrowserTokenClient({ functionsUrl, getSessionToken: () => session });
  const token = await client.getAccessToken();
  const again = await client.getAccessToken();
  const api = await client.fetch(`${functionsUrl}/api/echo`);
  let error: unknown;
  try {
    await client.getAccessToken({ provider: "spotify" });
  } catch (e) {
    error = e;
  }
  return {
    accessToken: token.accessToken,
    cached: again.accessToken === token.accessToken,
    apiAuthorization: (await api.json()).authorization,
    error: {
      isTokenManagerError: error instanceof TokenManagerError,
      code: error instanceof TokenManagerError ? error.code : null,
      requiresReauth: error instanceof TokenManagerError ? error.requiresReauth : null,
    },
  };
}

run().then(
  (result) => (out.textContent = JSON.stringify({ ok: true, ...result })),
  (e) => (out.textContent = JSON.stringify({ ok: false, error: String(e), code: e?.code })),
).finally(() => out.setAttribute("data-done", ""));
