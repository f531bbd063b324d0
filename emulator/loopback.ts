// The dev and test servers answer loopback names only. A page on another
// site can make its own name resolve to 127.0.0.1 (DNS rebinding) and then
// read these servers as its own origin: the dev page's config with the dev
// users' JWTs, the emulator's grants. Its requests still carry its name in
// `Host` (and `Origin`), which is what these checks refuse.

const LOOPBACK = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/;

/** `Host` names this machine by a loopback name (or is absent, as from a raw socket). */
export function loopbackHost(req: Request): boolean {
  const host = req.headers.get("host");
  return host === null || LOOPBACK.test(host.toLowerCase());
}

/** No `Origin` (not a browser's cross-origin call), or a loopback http origin. */
export function loopbackOrigin(req: Request): boolean {
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  const m = /^http:\/\/(.+)$/.exec(origin.toLowerCase());
  return m !== null && LOOPBACK.test(m[1]);
}

/** `handler`, for requests that name this machine by a loopback name; else 421. */
export function loopbackOnly(handler: (req: Request) => Response | Promise<Response>) {
  return (req: Request): Response | Promise<Response> =>
    loopbackHost(req)
      ? handler(req)
      : new Response("this development server answers loopback names only (127.0.0.1, localhost)", {
        status: 421,
      });
}
