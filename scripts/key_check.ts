// Before a tool writes sealed values: is TOKEN_ENCRYPTION_KEYS here the
// functions'? A key typed wrong under the right id would seal every value it
// writes, for good, with material no function has (make rekey, make
// import-legacy). Shown by opening what the functions have sealed with the
// current key.
import type postgres from "npm:postgres@3.4.9";

export type Field = "access_token" | "refresh_token";

/** What opens (and reseals) with the keyring: the legacy build's `KeyRotation`. */
export interface Rekeyer {
  readonly currentKeyId: string;
  rekey(value: string, userId: string, provider: string, field: Field): string | undefined | null;
}

/**
 * Before anything is written: the current key must open values the functions
 * have already sealed with it (after its promotion, every refresh and sign-in
 * does). A key typed wrong under the right id would otherwise reseal every
 * value with material no function has, for good. With none sealed with it
 * yet, nothing can show the key is theirs: refused (CONFIG) unless
 * `unverified` (the operator's --unverified-key). Refused too when it opens
 * none of the newest values sealed with it (up to five per column).
 */
export async function checkCurrentKey(
  sql: postgres.Sql,
  rekeyer: Rekeyer,
  unverified: boolean,
): Promise<void> {
  const sample = await sql.unsafe<{ user_id: string; provider: string; v: string; field: Field }[]>(
    `(select user_id::text, provider, access_token_sealed as v, 'access_token' as field
        from public.oauth_connections where split_part(access_token_sealed, '.', 2) = $1
       order by updated_at desc limit 5)
     union all
     (select user_id::text, provider, refresh_token_sealed, 'refresh_token'
        from public.oauth_connections where split_part(refresh_token_sealed, '.', 2) = $1
       order by updated_at desc limit 5)`,
    [rekeyer.currentKeyId],
  );
  if (sample.length === 0 && !unverified) {
    throw Object.assign(
      new Error(
        `nothing is sealed with the current key (${rekeyer.currentKeyId}) yet, so nothing shows ` +
          "TOKEN_ENCRYPTION_KEYS here is the functions': run again once they have sealed with it (any " +
          "refresh or sign-in does), or pass --unverified-key; nothing was written",
      ),
      { code: "CONFIG" },
    );
  }
  // A wrong key opens none of them; the right one opens every one not damaged
  // since (one that is, alone, must not stop the run).
  let opened = 0;
  for (const s of sample) {
    try {
      rekeyer.rekey(s.v, s.user_id, s.provider, s.field);
      opened++;
    } catch (e) {
      const code = (e as { code?: unknown })?.code;
      if (typeof code !== "string" || !code.startsWith("CRYPTO_")) throw e;
    }
  }
  if (sample.length > 0 && opened === 0) {
    throw Object.assign(
      new Error(
        `the current key (${rekeyer.currentKeyId}) does not open what the functions sealed with it: ` +
          "TOKEN_ENCRYPTION_KEYS here is not theirs; nothing was written",
      ),
      { code: "CONFIG" },
    );
  }
}
