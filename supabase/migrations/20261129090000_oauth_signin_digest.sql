-- A sign-in's provider tokens are handed over once (store-google-tokens,
-- connections/<id>/store), but a client whose first try got no answer sends
-- them again. Written again after a refresh rotated the refresh token, the
-- dead one would replace the live one (and a server with reuse detection
-- revokes the grant); after a disconnect, they would connect again what the
-- user disconnected; after a connect, they would replace its newer grant.
-- The store keeps the SHA-256 (base64url) of the last stored sign-in's access
-- token, a one-way digest of a high-entropy value; the same digest again
-- writes nothing. Refreshes, disconnects and connects leave it.
alter table public.oauth_connections add column if not exists signin_digest text;
