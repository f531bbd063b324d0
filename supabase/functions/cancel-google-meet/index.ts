// Cancel (delete) an event, notifying attendees per sendUpdates.
import { calendar } from "../_shared/calendar.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { eventId, optOneOf, readBody } from "../_shared/validate.ts";

const SEND_UPDATES = ["all", "externalOnly", "none"] as const;

export const handler = edgeFunction("cancel-google-meet", ["POST", "DELETE"], async ({ req, caller, rt }) => {
  const b = await readBody(req);
  const id = eventId(b);
  const sendUpdates = optOneOf(b, "sendUpdates", SEND_UPDATES) ?? "all";
  const r = await calendar(rt, caller.userId, "DELETE", `/calendars/primary/events/${id}`, {
    query: { sendUpdates },
  });
  return { body: { eventId: id, cancelled: true }, marker: r.marker };
});

if (import.meta.main) Deno.serve(handler);
