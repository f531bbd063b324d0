// The free variables of the READMEs' TypeScript samples, declared so tsc can
// check the samples against the installed package's types. Keep it small: a
// sample that needs more than the app's own objects should declare them itself.
import type { SupabaseClient } from "@supabase/supabase-js";
import type { TokenStore } from "oauth-token-manager";

declare global {
  /** The app's supabase-js client. */
  const supabase: SupabaseClient;
  /** Any TokenStore. */
  const store: TokenStore;
  /** The signed-in user's id. */
  const userId: string;
  /** What a sign-in returned: Supabase's session.provider_token and provider_refresh_token. */
  const providerToken: string;
  const providerRefreshToken: string;
  /** A create-google-meet request. */
  const requestId: string;
  const summary: string;
  const start: string;
  const end: string;
  /** The part of Deno's namespace the samples use (the repository does not install Deno's types here). */
  const Deno: {
    env: { get(name: string): string | undefined };
    readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>>;
    args: string[];
    serve(handler: (req: Request) => Response | Promise<Response>): unknown;
  };
}
