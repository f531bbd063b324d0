// Cancel (delete) an event, notifying attendees per sendUpdates.
import { calendar } from "../_shared/calendar.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { eventId, optOneOf, readBody } from "../_shared/validate.ts";

const SEND_UPDATES = ["all", "externalOnly", "none"] as const;

export const handler = edgeFunction("cancel-google-meet", ["POST", "DELETE"], async ({ req, caller, rt }) => {
  const b = await readBody(req);
  const id = eventId(b);
  const sendUpdates = optOneOf(b, "sendUpdates", SEND_UPDATES) ?? "all";
  // Google answers 410 Gone for an event deleted before: a retried cancel
  // (the first answer lost) has its result, not "not found".
  const r = await calendar(rt, caller.userId, "DELETE", `/calendars/primary/events/${id}`, {
    query: { sendUpdates },
    allow: [410],
  });
  const already = r.status === 410;
  return {
    body: { eventId: id, cancelled: true, ...(already ? { alreadyCancelled: true } : {}) },
    marker: r.marker,
  };
});

if (import.meta.main) Deno.serve(handler);
