// Every provider's connection, one routed function (one cold start):
//
//   GET         /connections                       every configured provider's status
//   POST        /connections/{provider}/connect    {returnTo, scopes?} → {authorizationUrl, expiresAt}
//   GET         /connections/callback              the provider's redirect (no JWT) → 302 to returnTo
//   POST        /connections/complete              {ticket} → the status (binds the connect to the caller)
//   POST        /connections/{provider}/token      {force?} → a valid access token for the browser
//   POST        /connections/{provider}/store      the tokens a Supabase sign-in returned
//   POST|DELETE /connections/{provider}/disconnect → what happened at the provider, and the status
import { callbackPage, checkReturnTo, redirectUri } from "../_shared/connect.ts";
import { CONNECTION_HEADER } from "../_shared/cors.ts";
import { badRequest } from "../_shared/errors.ts";
import type { Ctx } from "../_shared/handler.ts";
import { markerOf, statusReply, statusView, storeReply, tokenReply } from "../_shared/replies.ts";
import { routedFunction } from "../_shared/router.ts";
import { type Body, readBody, string } from "../_shared/validate.ts";

/** The route's provider, one of the configured ones. */
function provider({ rt, params }: Ctx): string {
  const id = params.provider;
  if (!Object.hasOwn(rt.cfg.providers, id)) {
    throw badRequest(
      `unknown provider '${id.slice(0, 64)}': configured are ${Object.keys(rt.cfg.providers).join(", ")}`,
    );
  }
  return id;
}

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/; // RFC 6749 §3.3 scope-token

/** The scopes to ask for instead of the provider's defaults: an array of scope tokens or one space-separated string. */
function scopes(b: Body): string[] | undefined {
  const v = b.scopes;
  if (v === undefined || v === null) return undefined;
  const list = typeof v === "string" ? v.split(" ").filter(Boolean) : v;
  if (
    !Array.isArray(list) || list.length > 50 || !list.every((s) => typeof s === "string" && SCOPE.test(s))
  ) {
    throw badRequest("scopes must be at most 50 scope names, as an array or a space-separated string");
  }
  return list;
}

const about = (id: string) => ({ [CONNECTION_HEADER]: id });

export const handler = routedFunction("connections", [
  {
    route: "GET /",
    work: async ({ caller, rt }) => ({ body: (await rt.manager.statusAll(caller.userId)).map(statusView) }),
  },
  {
    route: "POST /:provider/connect",
    work: async (ctx) => {
      const id = provider(ctx);
      const b = await readBody(ctx.req);
      const returnTo = checkReturnTo(string(b, "returnTo", 2048), ctx.rt.cfg.allowedOrigins);
      const extra = scopes(b);
      const started = await ctx.rt.manager.beginConnect(ctx.caller.userId, id, {
        redirectUri: redirectUri(ctx.req, ctx.rt.cfg),
        returnTo,
        ...(extra ? { scopes: extra } : {}),
      });
      return { body: { authorizationUrl: started.authorizationUrl, expiresAt: started.expiresAt } };
    },
  },
  { route: "GET /callback", page: callbackPage },
  {
    route: "POST /complete",
    work: async ({ req, caller, rt }) => {
      const ticket = string(await readBody(req), "ticket", 512);
      const report = await rt.manager.completeConnect(caller.userId, ticket);
      return statusReply(report, about(report.provider));
    },
  },
  {
    route: "POST /:provider/token",
    work: async (ctx) => {
      const id = provider(ctx);
      return await tokenReply(ctx.rt, ctx.caller.userId, id, await readBody(ctx.req), about(id));
    },
  },
  {
    route: "POST /:provider/store",
    work: async (ctx) => {
      const id = provider(ctx);
      return await storeReply(ctx.rt, ctx.caller.userId, id, await readBody(ctx.req), about(id));
    },
  },
  {
    route: "POST,DELETE /:provider/disconnect",
    work: async (ctx) => {
      const id = provider(ctx);
      const r = await ctx.rt.manager.disconnect(ctx.caller.userId, id);
      return {
        body: { ...r, status: statusView(r.status) },
        marker: markerOf(r.status.tokenRefreshedAt),
        headers: about(id),
      };
    },
  },
]);

if (import.meta.main) Deno.serve(handler);
