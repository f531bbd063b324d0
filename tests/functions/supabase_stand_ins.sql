-- Stand-ins for the two Supabase extensions the README's Supabase Cron schedule
-- uses besides pg_cron (which tests/functions/cron.test.ts runs for real):
-- neither is packaged for Debian. Same names, signatures and defaults as the
-- originals, so the README's SQL runs unchanged.
--
--   * pg_net (supabase/pg_net, sql/pg_net.sql): net.http_post(url, body,
--     params, headers, timeout_milliseconds) returns the request's id at once
--     and leaves the request to a background worker. Here nothing is sent: each
--     call is recorded in net.stand_in_requests, and the test replays it. As
--     pg_net does, a Content-Type header is added when the headers have none,
--     and one other than application/json is an error. (pg_net appends `params`
--     url-encoded to the URL; they are recorded beside it instead.)
--   * Supabase Vault (supabase/vault, sql/supabase_vault--0.3.0.sql):
--     vault.create_secret(new_secret, new_name, new_description, new_key_id)
--     stores the secret encrypted in vault.secrets and returns its id;
--     vault.decrypted_secrets is vault.secrets plus decrypted_secret. Vault
--     encrypts with libsodium (pgsodium's functions); here pgcrypto (in the
--     `extensions` schema, as on Supabase) with a fixed stand-in key, so the
--     `secret` column holds ciphertext as it does on a project and only
--     `decrypted_secret` reads back the value.
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;

-- pg_net ----------------------------------------------------------------------
create schema if not exists net;

create table if not exists net.stand_in_requests (
  id bigserial primary key,
  method text not null,
  url text not null,
  params jsonb not null,
  headers jsonb not null,
  body jsonb,
  timeout_milliseconds int not null,
  at timestamptz not null default clock_timestamp()
);

create or replace function net.http_post(
  -- url for the request
  url text,
  -- body of the POST request
  body jsonb default '{}'::jsonb,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000
)
  -- request_id reference
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  content_type text;
begin
  select header_value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
  where lower(header_name) = 'content-type'
  limit 1;
  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  end if;
  if content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  insert into net.stand_in_requests (method, url, params, headers, body, timeout_milliseconds)
  values ('POST', url, coalesce(params, '{}'::jsonb), headers, body, timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

-- Supabase Vault ----------------------------------------------------------------
create schema if not exists vault;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;

create or replace function vault._stand_in_key() returns text language sql immutable as $$
  select 'vault stand-in root key (tests only)'
$$;

create or replace view vault.decrypted_secrets as
select s.id,
  s.name,
  s.description,
  s.secret,
  extensions.pgp_sym_decrypt(decode(s.secret, 'base64'), vault._stand_in_key()) as decrypted_secret,
  s.key_id,
  s.nonce,
  s.created_at,
  s.updated_at
from vault.secrets s;

create or replace function vault.create_secret(
  new_secret text,
  new_name text = null,
  new_description text = '',
  -- unused
  new_key_id uuid = null
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
begin
  insert into vault.secrets (secret, name, description)
  values (
    encode(extensions.pgp_sym_encrypt(new_secret, vault._stand_in_key()), 'base64'),
    new_name,
    new_description
  )
  returning id into new_id;
  return new_id;
end
$$;
