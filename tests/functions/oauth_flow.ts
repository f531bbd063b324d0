// A small OAuth client for the emulator's provider tests: PKCE pairs (RFC
// 7636 §4.1–4.2), authorization requests answered by redirect, form posts to
// token endpoints, and API calls with a token.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";

export const REDIRECT = "http://127.0.0.1:9/callback";

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`;

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  body: any;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, body };
}

const withQuery = (url: string, params: Record<string, string>) => {
  const u = new URL(url);
  u.search = new URLSearchParams(params).toString();
  return u;
};

/** An authorization request (GET) without following its redirect. */
export async function authorizeRequest(url: string, params: Record<string, string>): Promise<Answer> {
  return await answer(await fetch(withQuery(url, params), { redirect: "manual" }));
}

/** The redirect of an authorization request (302; POST: the consent page's form), as a URL. */
export async function redirected(url: string, params: Record<string, string>, method = "GET"): Promise<URL> {
  const res = method === "GET"
    ? await fetch(withQuery(url, params), { redirect: "manual" })
    : await fetch(url, { method, body: new URLSearchParams(params), redirect: "manual" });
  await res.body?.cancel();
  assert.equal(res.status, 302, `expected a redirect from ${url}`);
  return new URL(res.headers.get("location")!);
}

/** The code of an approved authorization request. */
export async function codeFrom(url: string, params: Record<string, string>): Promise<string> {
  const back = await redirected(url, params);
  assert.equal(back.searchParams.get("state"), params.state ?? null);
  return back.searchParams.get("code")!;
}

export async function post(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return await answer(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(form),
    }),
  );
}

export async function api(url: string, token: string, scheme = "Bearer", init: RequestInit = {}) {
  return await answer(
    await fetch(url, { ...init, headers: { authorization: `${scheme} ${token}`, ...init.headers } }),
  );
}

/** POST /control/<path> of the emulator. */
// deno-lint-ignore no-explicit-any
export async function control(base: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}/control/${path}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await res.json();
}
