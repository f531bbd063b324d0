// Saves the provider tokens Supabase sign-in returns once
// (session.provider_token / session.provider_refresh_token). Google access
// tokens live an hour; Supabase does not pass the lifetime on.
import { edgeFunction } from "../_shared/handler.ts";
import { storeReply } from "../_shared/replies.ts";
import { readBody } from "../_shared/validate.ts";

export const handler = edgeFunction(
  "store-google-tokens",
  ["POST"],
  async ({ req, caller, rt }) => await storeReply(rt, caller.userId, "google", await readBody(req)),
);

if (import.meta.main) Deno.serve(handler);
