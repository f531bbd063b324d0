// A loopback token endpoint for the smoke tests, shared by Deno and Node:
// `handle` takes the request method, headers and form body and returns
// {status, body, headers}. It counts calls and can be told to fail.
export function tokenEndpoint() {
  /** @type {{ calls: number, bodies: string[], next: { status: number, body: string, headers?: Record<string, string> }[] }} */
  const state = { calls: 0, bodies: [], next: [] };
  const handle = (method, body) => {
    state.calls++;
    state.bodies.push(body);
    const scripted = state.next.shift();
    if (scripted) return scripted;
    if (method !== "POST") return { status: 405, body: "" };
    const form = new URLSearchParams(body);
    if (form.get("grant_type") !== "refresh_token" || !form.get("refresh_token")) {
      return { status: 400, body: JSON.stringify({ error: "invalid_request" }) };
    }
    return {
      status: 200,
      body: JSON.stringify({ access_token: `served-${state.calls}`, token_type: "Bearer", expires_in: 3600 }),
      headers: { "content-type": "application/json" },
    };
  };
  return { state, handle };
}
