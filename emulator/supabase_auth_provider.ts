// The Supabase Auth stand-in's side of the provider: exchanging the callback's
// code for the provider's tokens and reading the user info as GoTrue does.
import { AuthError, type AuthProvider } from "./supabase_auth_types.ts";

/** The user info of a provider as GoTrue's provider code reads it: subject, emails, metadata. */
export function readUserInfo(kind: AuthProvider["identity"], u: Record<string, unknown>) {
  const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  switch (kind) {
    case "oidc":
      return {
        sub: String(u.sub),
        email: str(u.email),
        verified: u.email_verified === true,
        name: str(u.name),
        picture: str(u.picture),
      };
    case "spotify": {
      const images = Array.isArray(u.images) ? u.images as { url?: string }[] : [];
      return {
        sub: String(u.id),
        email: str(u.email),
        verified: true,
        name: str(u.display_name),
        picture: images[0]?.url,
      };
    }
    case "discord":
      return {
        sub: String(u.id),
        email: str(u.email),
        verified: u.verified === true,
        name: str(u.global_name) ?? str(u.username),
        picture: str(u.avatar),
        userName: str(u.username),
      };
    case "github":
      return {
        sub: String(u.id),
        email: str(u.email),
        verified: true,
        name: str(u.name) ?? str(u.login),
        picture: str(u.avatar_url),
        userName: str(u.login),
      };
  }
}

/** The provider's tokens and who they belong to. */
export async function exchange(p: AuthProvider, code: string, callbackUrl: string) {
  const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callbackUrl });
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if (p.clientAuth === "basic") {
    headers.authorization = `Basic ${
      btoa(`${encodeURIComponent(p.clientId)}:${encodeURIComponent(p.clientSecret)}`)
    }`;
  } else {
    form.set("client_id", p.clientId);
    form.set("client_secret", p.clientSecret);
  }
  const res = await fetch(p.tokenUrl, { method: "POST", headers, body: form });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.access_token !== "string") {
    throw new AuthError(
      500,
      "unexpected_failure",
      `Error exchanging code with provider: ${body.error ?? res.status}`,
    );
  }
  const info = await fetch(p.userinfoUrl, {
    headers: { authorization: `Bearer ${body.access_token}`, accept: "application/json" },
  });
  if (!info.ok) {
    await info.body?.cancel();
    throw new AuthError(500, "unexpected_failure", "Error getting user profile from external provider");
  }
  const who = readUserInfo(p.identity, await info.json());
  // Supabase Auth's GitHub provider reads the primary verified address from
  // /user/emails, as /user names only a public one.
  if (p.identity === "github") {
    const list = await fetch(`${p.userinfoUrl}/emails`, {
      headers: { authorization: `Bearer ${body.access_token}`, accept: "application/json" },
    });
    const all = list.ok ? await list.json() : (await list.body?.cancel(), []);
    const primary = Array.isArray(all) ? all.find((e) => e?.primary && e?.verified) : undefined;
    if (typeof primary?.email === "string") who.email = primary.email;
  }
  return {
    accessToken: body.access_token as string,
    refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : "",
    who,
  };
}
