// A Calendar event with a Google Meet (conferenceData.createRequest,
// conferenceDataVersion=1), idempotent on the caller's requestId: the same
// request again returns the event (200, created: false); the same requestId
// with another request, or for an event since cancelled, is 409
// IDEMPOTENCY_CONFLICT.
import { calendar, eventIdFor, eventView, type GoogleEvent, sameRequest } from "../_shared/calendar.ts";
import { AppError, badRequest } from "../_shared/errors.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { dateTime, optEmails, optOneOf, optString, readBody, string } from "../_shared/validate.ts";

const SEND_UPDATES = ["all", "externalOnly", "none"] as const;

export const handler = edgeFunction("create-google-meet", ["POST"], async ({ req, caller, rt }) => {
  const b = await readBody(req);
  const requestId = string(b, "requestId", 200);
  const summary = string(b, "summary", 1024);
  const start = dateTime(b, "start");
  const end = dateTime(b, "end");
  if (Date.parse(end) <= Date.parse(start)) throw badRequest("end must be after start");
  const timeZone = optString(b, "timeZone", 64);
  const attendees = optEmails(b, "attendees") ?? [];
  const sendUpdates = optOneOf(b, "sendUpdates", SEND_UPDATES) ?? "none";
  const id = await eventIdFor(caller.userId, requestId);
  const event = {
    id,
    summary,
    description: optString(b, "description", 8192),
    start: { dateTime: start, ...(timeZone ? { timeZone } : {}) },
    end: { dateTime: end, ...(timeZone ? { timeZone } : {}) },
    attendees: attendees.map((email) => ({ email })),
    conferenceData: { createRequest: { requestId, conferenceSolutionKey: { type: "hangoutsMeet" } } },
  };
  const created = await calendar<GoogleEvent>(rt, caller.userId, "POST", "/calendars/primary/events", {
    query: { conferenceDataVersion: "1", sendUpdates },
    body: event,
    allow: [409],
  });
  if (created.status === 409) {
    // The requestId was used before: the same request gets that event back.
    const existing = await calendar<GoogleEvent>(
      rt,
      caller.userId,
      "GET",
      `/calendars/primary/events/${id}`,
      { query: { conferenceDataVersion: "1" }, allow: [404, 410] },
    );
    const prior = existing.status === 404 || existing.status === 410 ? null : existing.data!;
    // Cancelled, or since purged by Google (its id stays taken: insert still answers 409).
    if (prior === null || prior.status === "cancelled") {
      throw new AppError(
        "IDEMPOTENCY_CONFLICT",
        "this requestId was used for an event that has since been cancelled: use a new requestId",
      );
    }
    if (!sameRequest(prior, event)) {
      throw new AppError(
        "IDEMPOTENCY_CONFLICT",
        "this requestId was used before with a different request: use a new requestId",
      );
    }
    return { body: { ...eventView(prior), created: false }, marker: existing.marker };
  }
  return { status: 201, body: { ...eventView(created.data!), created: true }, marker: created.marker };
});

if (import.meta.main) Deno.serve(handler);
