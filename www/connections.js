// The Connections panel: every configured provider with its state, the
// connected account, scopes, expiry, last error in plain words, and
// Connect / Reconnect / Disconnect through the package's connect flow.
// "Who am I?" calls each provider's own API through client.fetch, so the
// token can be seen to work.

import { forThisUser } from "./session.js";

export const NAMES = { google: "Google", spotify: "Spotify", discord: "Discord", github: "GitHub" };
export const STATUS_WORDS = {
  connected: "Connected",
  token_expired: "Token expired — refresh failing",
  needs_reauth: "Reconnect needed",
  error: "Error",
  disconnected: "Not connected",
};
const REVOCATION_WORDS = {
  revoked: "access was revoked at the provider",
  not_supported: "the provider offers no revocation, so access ends when its token expires",
  nothing_to_revoke: "there was nothing left to revoke",
  failed: "the provider could not be reached to revoke access; remove the app in the provider's settings",
};

const name = (p) => NAMES[p] ?? p;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "testid") e.dataset.testid = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

function expiry(at) {
  if (!at) return "does not expire";
  const s = Math.round((at - Date.now()) / 1000);
  if (s <= 0) return "expired";
  if (s >= 2 * 86_400) return `in ${Math.round(s / 86_400)} days`;
  if (s >= 3_600) return `in ${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
  return `in ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * @param {{ client: import("oauth-token-manager").BrowserTokenClient, whoAmI: Record<string, string>,
 *   plain: (e: unknown) => string, say: (text: string, ok?: boolean) => void,
 *   linkVia?: { can: (provider: string) => boolean, connect: (provider: string) => Promise<unknown> } }} deps
 *   linkVia: connecting through Supabase Auth (linkIdentity, or a new sign-in with a linked provider),
 *   beside the functions' own connect flow.
 */
export function connectionsPanel({ client, whoAmI, plain, say, linkVia }) {
  const list = document.getElementById("connections");
  let reports = [];
  /** The last "Who am I?" answer per provider: kept across re-renders (a token change re-renders). */
  const whoSaid = {};

  function card(r) {
    const p = r.provider;
    const li = el("li", { "data-provider": p, testid: `connection-${p}`, class: "connection" });
    const head = el("div", { class: "head" });
    head.append(
      el("strong", {}, name(p)),
      " ",
      el(
        "span",
        { class: `badge ${r.status}`, testid: `status-${p}`, "data-status": r.status },
        STATUS_WORDS[r.status],
      ),
    );
    const account = r.accountName && r.accountEmail
      ? `${r.accountName} (${r.accountEmail})`
      : r.accountName ?? r.accountEmail;
    const who = account
      ? `Connected as ${account}`
      : r.status === "disconnected"
      ? "No account connected"
      : "Connected";
    const dl = el("dl");
    const row = (dt, dd, testid) => dl.append(el("dt", {}, dt), el("dd", testid ? { testid } : {}, dd));
    row("Account", who, `account-${p}`);
    if (r.status !== "disconnected") row("Scopes", r.scopes.length ? r.scopes.join(" ") : "—");
    if (r.status !== "disconnected") {
      const exp = el(
        "dd",
        { testid: `expiry-${p}`, "data-expires-at": String(r.expiresAt ?? "") },
        expiry(r.expiresAt),
      );
      dl.append(el("dt", {}, "Access token"), exp);
    }
    row(
      "Last error",
      r.lastErrorCode ? plain({ code: r.lastErrorCode, message: r.lastErrorMessage, provider: p }) : "none",
    );
    // The grant's refresh token ends soon (REFRESH_TOKEN_EXPIRING): say by when to reconnect.
    const warning = r.warning?.code === "REFRESH_TOKEN_EXPIRING"
      ? el(
        "p",
        {
          class: "warning",
          testid: `warning-${p}`,
          "data-reconnect-before": String(r.warning.reconnectBefore),
        },
        `Reconnect before ${new Date(r.warning.reconnectBefore).toLocaleString()} to keep ${name(p)} access.`,
      )
      : null;
    const buttons = el("div", { class: "actions" });
    const button = (label, testid, cls, work) => {
      const b = el("button", { testid, ...(cls ? { class: cls } : {}) }, label);
      b.onclick = async () => {
        b.disabled = true;
        try {
          await work();
        } catch (e) {
          say(plain({ code: e?.code, message: e?.message, retryAfter: e?.retryAfter, provider: p }));
          await refresh().catch(() => {});
        } finally {
          b.disabled = false;
        }
      };
      buttons.append(b);
    };
    if (linkVia?.can(p)) {
      button(
        r.status === "disconnected" ? "Link through Supabase" : "Reconnect through Supabase",
        `link-${p}`,
        null,
        () => linkVia.connect(p),
      );
    }
    if (r.status === "disconnected") {
      button(`Connect ${name(p)}`, `connect-${p}`, null, () => client.connect(p));
    } else {
      button(
        `Reconnect ${name(p)}`,
        `reconnect-${p}`,
        r.requiresReauth || warning ? "warn" : null,
        () => client.connect(p),
      );
      button("Disconnect", `disconnect-${p}`, null, async () => {
        const d = await client.disconnect(p);
        say(`${name(p)} disconnected: ${REVOCATION_WORDS[d.revocation] ?? d.revocation}.`, true);
        await refresh();
      });
      if (whoAmI[p]) {
        const out = el("span", { testid: `whoami-${p}`, class: "whoami" }, whoSaid[p] ?? "");
        button("Who am I?", `whoami-button-${p}`, null, async () => {
          delete whoSaid[p];
          out.textContent = "";
          await forThisUser(async () => {
            const res = await client.fetch(whoAmI[p], {}, { provider: p });
            if (!res.ok) throw { code: res.status === 401 ? "REAUTH_REQUIRED" : "PROVIDER_UNAVAILABLE" };
            return await res.json();
          }, (me) => {
            whoSaid[p] = `${name(p)} says: ${me.display_name ?? me.name ?? me.login ?? me.username ?? me.id}`;
            render();
          });
        });
        buttons.append(" ", out);
      }
    }
    li.append(head, dl, ...(warning ? [warning] : []), buttons);
    return li;
  }

  function render() {
    list.replaceChildren(...reports.map(card));
  }

  async function refresh() {
    await forThisUser(() => client.connections(), (r) => {
      reports = r;
      render();
    });
  }

  /** Back from a consent page: finish the connect with this session. */
  async function completeReturn() {
    const done = await client.completeConnect();
    if (!done) return;
    if (done.error) say(`${name(done.provider)}: ${done.error.message}`);
    else {
      const who = done.status.accountName ?? done.status.accountEmail;
      say(`${name(done.provider)} connected${who ? ` as ${who}` : ""}.`, true);
    }
  }

  setInterval(() => {
    for (const dd of list.querySelectorAll("[data-expires-at]")) {
      const at = Number(dd.dataset.expiresAt);
      if (at) dd.textContent = expiry(at);
    }
  }, 1000);

  /** Another user (or none): nothing of the previous one's stays on the page. */
  function clear() {
    reports = [];
    for (const p of Object.keys(whoSaid)) delete whoSaid[p];
    render();
  }

  return { refresh, completeReturn, clear };
}
