// Patch an event's time, title, description or attendees.
import { calendar, eventView, type GoogleEvent } from "../_shared/calendar.ts";
import { badRequest } from "../_shared/errors.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { eventId, optDateTime, optEmails, optOneOf, optString, readBody } from "../_shared/validate.ts";

const SEND_UPDATES = ["all", "externalOnly", "none"] as const;

export const handler = edgeFunction("update-google-meet", ["POST", "PATCH"], async ({ req, caller, rt }) => {
  const b = await readBody(req);
  const id = eventId(b);
  const patch: Record<string, unknown> = {};
  const summary = optString(b, "summary", 1024);
  if (summary !== undefined) patch.summary = summary;
  const description = optString(b, "description", 8192);
  if (description !== undefined) patch.description = description;
  const timeZone = optString(b, "timeZone", 64);
  const start = optDateTime(b, "start");
  const end = optDateTime(b, "end");
  if (start && end && Date.parse(end) <= Date.parse(start)) throw badRequest("end must be after start");
  if (timeZone !== undefined && !start && !end) {
    throw badRequest("timeZone applies to start and end: give them with it");
  }
  // `date: null`: a patch keeps the fields it does not name ("Events: patch"),
  // and an all-day event's date beside a new dateTime is refused.
  if (start) patch.start = { date: null, dateTime: start, ...(timeZone ? { timeZone } : {}) };
  if (end) patch.end = { date: null, dateTime: end, ...(timeZone ? { timeZone } : {}) };
  const attendees = optEmails(b, "attendees");
  if (attendees) patch.attendees = attendees.map((email) => ({ email }));
  if (Object.keys(patch).length === 0) {
    throw badRequest("nothing to update: give summary, description, start, end or attendees");
  }
  const sendUpdates = optOneOf(b, "sendUpdates", SEND_UPDATES) ?? "none";
  const r = await calendar<GoogleEvent>(rt, caller.userId, "PATCH", `/calendars/primary/events/${id}`, {
    query: { conferenceDataVersion: "1", sendUpdates },
    body: patch,
  });
  return { body: eventView(r.data!), marker: r.marker };
});

if (import.meta.main) Deno.serve(handler);
