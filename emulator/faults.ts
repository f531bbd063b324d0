// Token-endpoint faults, served before a request is looked at: what a
// provider or the network in front of it does on a bad day. Shared by every
// provider's token endpoint (POST /control/faults, optionally per provider).
import type { ProviderId } from "./config.ts";
import type { EmulatorState, Fault } from "./state.ts";
import { json } from "./grants.ts";

const oauthError = (status: number, error: string, description: string) =>
  json(status, { error, error_description: description });

/** The answer to the provider's next queued fault, or null when none is queued. */
export async function fault(s: EmulatorState, p: ProviderId, req: Request): Promise<Response | null> {
  const f = s.takeFault(p);
  return f ? await serveFault(f, req) : null;
}

/** A hang fault: no answer for hangMs (60 s), or until the client gives up. */
export async function hang(f: { hangMs?: number }, req: Request): Promise<void> {
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, f.hangMs ?? 60_000);
    req.signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function serveFault(f: Fault, req: Request): Promise<Response> {
  switch (f.kind) {
    case "500":
    case "502":
    case "503":
      return new Response(`<html><body>Error ${f.kind}</body></html>`, {
        status: Number(f.kind),
        headers: {
          "content-type": "text/html",
          ...(f.retryAfter ? { "retry-after": String(f.retryAfter) } : {}),
        },
      });
    case "429":
      return json(429, { error: "rate_limit_exceeded" }, { "retry-after": String(f.retryAfter ?? 30) });
    case "hang":
      await hang(f, req);
      return json(503, { error: "temporarily_unavailable" });
    case "reset":
      return new Response(
        new ReadableStream({
          start(c) {
            c.error(new Error("connection reset by emulator"));
          },
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      );
    case "html":
      return new Response("<!DOCTYPE html><html><body>Proxy error</body></html>", {
        status: 200,
        headers: { "content-type": "text/html" },
      });
    case "error200":
      return json(200, { error: "invalid_request", error_description: "Bad Request" });
    case "malformed":
      return new Response('{"access_token": "ya29.trunc', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    case "invalid_grant":
      return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
  }
}
