// What the browser driver's smoke tests share: a session JWT for a user,
// the client's options over a stand-in fetch, a token function's answer.

/** The user a stand-in function sees: the session JWT's `sub` in an `authorization` header. */
export const subOf = (authorization) => JSON.parse(atob(authorization.split(".")[1])).sub;
export const jwtFor = (sub) => `${btoa('{"alg":"none"}')}.${btoa(JSON.stringify({ sub }))}.sig`;
let channel = 0;
/** A channel name no other client of this process uses. */
export const channelName = (kind = "driver") => `browser-${kind}-${++channel}`;
export const options = (fetch, extra = {}) => ({
  functionsUrl: "https://project.invalid/functions/v1",
  channelName: channelName(),
  getSessionToken: () => jwtFor("user-a"),
  fetch,
  ...extra,
});
export const tokenBody = (accessToken, refreshedAtMs) =>
  JSON.stringify({
    accessToken,
    expiresAt: Date.now() + 3_600_000,
    tokenRefreshedAt: new Date(refreshedAtMs).toISOString(),
  });
/** A promise and the function that settles it. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}
