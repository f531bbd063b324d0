// The HTML of the authorization pages: the consent page (Approve / Deny and
// the account to sign in as, for Playwright) and the error page shown when
// the request cannot be sent back to the client.

const escape = (v: string) =>
  v.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const page = (status: number, title: string, body: string) =>
  new Response(
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>` +
      `<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}` +
      `button{font:inherit;padding:.4rem 1.2rem;margin-right:.5rem}input{font:inherit;width:100%}</style>` +
      `</head><body>${body}</body></html>`,
    { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } },
  );

export interface ConsentPage {
  provider: string;
  accountLabel: string;
  account: string;
  scopes: string[];
  /** The authorization request, posted back with the decision. */
  params: URLSearchParams;
}

export function consentPage(c: ConsentPage): Response {
  const hidden = [...c.params].filter(([k]) => k !== "account" && k !== "decision")
    .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`).join("");
  const scopes = c.scopes.length
    ? `<ul id="scopes">${c.scopes.map((x) => `<li>${escape(x)}</li>`).join("")}</ul>`
    : `<p id="scopes">No scopes requested.</p>`;
  return page(
    200,
    `${c.provider} (emulator): authorize`,
    `<h1>${escape(c.provider)} emulator</h1>` +
      `<p>The application <code>${escape(c.params.get("client_id") ?? "")}</code> asks for access:</p>` +
      `${scopes}<form method="post" id="consent">${hidden}` +
      `<p><label for="account">${escape(c.accountLabel)}</label>` +
      `<input id="account" name="account" value="${escape(c.account)}" autocomplete="off"></p>` +
      `<button type="submit" name="decision" value="approve" id="approve">Approve</button>` +
      `<button type="submit" name="decision" value="deny" id="deny">Deny</button></form>`,
  );
}

/** RFC 6749 §4.1.2.1: with a bad client or redirect URI the user is told; nothing is redirected. */
export function errorPage(status: number, provider: string, message: string): Response {
  return page(
    status,
    `${provider} (emulator): error`,
    `<h1>${escape(provider)} emulator</h1><p id="error">${escape(message)}</p>`,
  );
}
