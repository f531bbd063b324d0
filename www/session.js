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

/** The dev shortcut JWT's claims, read without verifying (the server verifies). */
export function devClaims() {
  try {
    const part = (localStorage.getItem(JWT_KEY) ?? "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

/** Who is signed in: the Supabase session's user, else the dev shortcut's; null when signed out. */
/**
 * Runs `work` (an answer to write into the page) only if the page is still
 * the same user's as when `load` began: an answer to a request made before a
 * sign-out or a switch is not shown to whoever is signed in now (and counts
 * in the body's `data-discarded`, for tests). Resolves to the answer when it
 * was shown, else undefined.
 */
export async function forThisUser(load, work) {
  const session = document.getElementById("session");
  const who = session?.dataset.user;
  const answer = await load();
  if (session?.dataset.user !== who) {
    document.body.dataset.discarded = String(Number(document.body.dataset.discarded ?? 0) + 1);
    return undefined;
  }
  work(answer);
  return answer;
}

export async function signedInAs(supabase) {
  const { data: { session } } = await supabase.auth.getSession();
  if (session) return { via: "supabase", id: session.user.id, email: session.user.email };
  const jwt = localStorage.getItem(JWT_KEY);
  return jwt ? { via: "dev", id: devClaims().sub ?? "", email: devClaims().email } : null;
}

/** Supabase Auth's error on the way back from a provider (?error=…&error_code=…), taken off the address bar. */
function authReturnError() {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const get = (k) => url.searchParams.get(k) ?? hash.get(k);
  const error = get("error");
  if (!error) return null;
  const found = { error, code: get("error_code"), description: get("error_description") };
  for (const k of ["error", "error_code", "error_description"]) url.searchParams.delete(k);
  url.hash = "";
  history.replaceState(history.state, "", url);
  return found;
}

/** The page's words for Supabase Auth's error on the way back, taken off the address bar; null without one. */
export function authReturnMessage() {
  const returned = authReturnError();
  if (!returned) return null;
  return returned.error === "access_denied"
    ? "Access was not granted at the provider."
    : returned.code === "identity_already_exists"
    ? "That account is already linked to another user."
    // The code only: the description is whatever the link that opened the page says.
    : `Sign-in did not complete (${String(returned.error).replace(/[^a-z_]/gi, "").slice(0, 40)}).`;
}
