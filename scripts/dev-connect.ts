// make dev-connect: signs the dev user in to Google through the emulator and
// hands the tokens to store-google-tokens, as Supabase sign-in would.
import { SignJWT } from "npm:jose@6.2.17";

const ROOT = new URL("../", import.meta.url).pathname;
const DEV_USER = "0000000d-e000-4000-8000-000000000001";
const email = Deno.args[0] ?? "dev@example.com";
let secrets: { jwtSecret: string };
try {
  secrets = JSON.parse(await Deno.readTextFile(`${ROOT}.dev/secrets.json`));
} catch {
  console.error("No .dev/secrets.json: start the stack with `make dev` first.");
  Deno.exit(1);
}
const jwt = await new SignJWT({ role: "authenticated", email })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(DEV_USER)
  .setAudience("authenticated")
  .setIssuer("http://127.0.0.1:54321/auth/v1") // the dev stack's Auth (JWT_ISSUER)
  .setIssuedAt()
  .setExpirationTime("1h")
  .sign(new TextEncoder().encode(secrets.jwtSecret));
try {
  const g = await (await fetch("http://127.0.0.1:54329/control/grant", {
    method: "POST",
    body: JSON.stringify({ email }),
  })).json();
  const res = await fetch("http://127.0.0.1:54321/functions/v1/store-google-tokens", {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
    body: JSON.stringify({
      providerToken: g.access_token,
      providerRefreshToken: g.refresh_token,
      expiresIn: g.expires_in,
      scope: g.scope,
    }),
  });
  const body = await res.json();
  if (!res.ok) {
    console.error(`store-google-tokens answered ${res.status}: ${body.code} ${body.error}`);
    Deno.exit(1);
  }
  console.log(`Connected ${email}: status ${body.status}, scopes ${body.scopes.join(" ")}`);
} catch (e) {
  console.error(`Is \`make dev\` running? ${e instanceof Error ? e.message : e}`);
  Deno.exit(1);
}
