// A valid Google access token for the browser, which never holds the refresh
// token. `force: true` refreshes now (after a Google 401).
import { edgeFunction } from "../_shared/handler.ts";
import { tokenReply } from "../_shared/replies.ts";
import { readBody } from "../_shared/validate.ts";

export const handler = edgeFunction(
  "refresh-google-token",
  ["POST"],
  async ({ req, caller, rt }) => await tokenReply(rt, caller.userId, "google", await readBody(req)),
);

if (import.meta.main) Deno.serve(handler);
