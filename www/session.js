// What every page starts with: its configuration (the dev stack's
// /config.json), supabase-js signed in with PKCE (Supabase hands the session,
// and the provider tokens, to its code exchange, not through the address
// bar), and the browser client asking for the session's JWT: supabase-js's,
// else the dev shortcuts' (a JWT the dev stack signed, in JWT_KEY).
import init, { BrowserTokenClient } from "oauth-token-manager";
import { sessionToken } from "oauth-token-manager/supabase";

/** The dev shortcuts' session: a JWT the dev stack signed, instead of a Supabase sign-in. */
export const JWT_KEY = "otm.jwt";

/**
 * `attach(supabase, client)` runs right after createClient, before anything
 * awaits, so it sees the SIGNED_IN that carries the provider tokens.
 */
export async function startSession({ attach } = {}) {
  const { createClient } = globalThis.supabase;
  const config = await (await fetch("/config.json")).json();
  await init();
  const supabase = createClient(config.supabaseUrl, config.supabasePublishableKey, {
    auth: { flowType: "pkce" },
  });
  const supabaseToken = sessionToken(supabase);
  const client = new BrowserTokenClient({
    functionsUrl: config.functionsUrl,
    getSessionToken: async () => (await supabaseToken()) || (localStorage.getItem(JWT_KEY) ?? ""),
  });
  const attached = attach?.(supabase, client);
  return { config, supabase, client, attached };
}
