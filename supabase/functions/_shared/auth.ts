// The caller's Supabase JWT: HS256 with the project's JWT secret, or the
// project's JWKS (asymmetric signing keys). `alg: none`, expired, forged and
// malformed tokens are all 401 UNAUTHORIZED.
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "npm:jose@6.2.17";
import type { AppConfig } from "./env.ts";
import { unauthorized } from "./errors.ts";

export interface Caller {
  userId: string;
  email: string | null;
}

export class JwtVerifier {
  private readonly secret: Uint8Array | null;
  private readonly jwks: JWTVerifyGetKey | null;

  constructor(cfg: Pick<AppConfig, "jwtSecret" | "jwksUrl">) {
    this.secret = cfg.jwtSecret ? new TextEncoder().encode(cfg.jwtSecret) : null;
    this.jwks = !this.secret && cfg.jwksUrl ? createRemoteJWKSet(new URL(cfg.jwksUrl)) : null;
  }

  /** For scheduled jobs: a valid JWT whose role is service_role (the project's service role key). */
  async verifyServiceRole(req: Request): Promise<void> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];
    if (!token) throw unauthorized("missing Authorization: Bearer <service role key>");
    let role: unknown;
    try {
      const { payload } = this.secret
        ? await jwtVerify(token, this.secret, { algorithms: ["HS256"] })
        : await jwtVerify(token, this.jwks!, { algorithms: ["RS256", "ES256", "EdDSA"] });
      role = payload.role;
    } catch {
      throw unauthorized("invalid service role token");
    }
    if (role !== "service_role") throw unauthorized("this function needs the service role key");
  }

  async verify(req: Request): Promise<Caller> {
    const header = req.headers.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthorized("missing Authorization: Bearer <Supabase access token>");
    const token = match[1];
    try {
      const { payload } = this.secret
        ? await jwtVerify(token, this.secret, { algorithms: ["HS256"] })
        : await jwtVerify(token, this.jwks!, { algorithms: ["RS256", "ES256", "EdDSA"] });
      if (typeof payload.sub !== "string" || payload.sub.length === 0) {
        throw unauthorized("the token has no subject");
      }
      if (payload.role !== undefined && payload.role !== "authenticated" && payload.role !== "service_role") {
        throw unauthorized("the token's role may not call this function");
      }
      if (payload.exp === undefined) throw unauthorized("the token has no expiry");
      return { userId: payload.sub, email: typeof payload.email === "string" ? payload.email : null };
    } catch (e) {
      if (e instanceof Error && e.name === "AppError") throw e;
      const code = (e as { code?: string }).code ?? "";
      throw unauthorized(
        code === "ERR_JWT_EXPIRED" ? "the session has expired: sign in again" : "invalid access token",
      );
    }
  }
}
