-- Supabase's API roles hold only what they need on our objects.
--
-- Supabase's default privileges grant ALL on every table, sequence and
-- function created in public to anon, authenticated and service_role. The
-- first migration revoked the tables but not their identity sequences, so a
-- signed-in user could `select setval('oauth_connections_id_seq', …)` and make
-- every later token write fail (and PUBLIC may execute any function by
-- default). This migration, safe to run again, leaves:
--   authenticated: SELECT of the non-secret columns of its own connections and
--                  of its own events (row-level security); nothing else;
--   anon:          nothing;
--   service_role:  everything (it bypasses row-level security);
-- on every table, view, sequence and function of ours (public.oauth_*, and the
-- sequences those tables own). The edge functions connect as the owner.
do $$
declare
  obj record;
begin
  if not exists (select 1 from pg_roles where rolname = 'authenticated')
     or not exists (select 1 from pg_roles where rolname = 'anon') then
    return; -- not a Supabase-shaped database: no API roles to restrict
  end if;

  for obj in
    select c.oid::regclass as name, c.relkind
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public'
       and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
       and (c.relname like 'oauth\_%'
            or c.oid in (select d.objid
                           from pg_depend d
                           join pg_class t on t.oid = d.refobjid
                           join pg_namespace tn on tn.oid = t.relnamespace
                          where d.classid = 'pg_class'::regclass
                            and d.refclassid = 'pg_class'::regclass
                            and d.deptype in ('a', 'i')
                            and tn.nspname = 'public'
                            and t.relname like 'oauth\_%'))
  loop
    if obj.relkind = 'S' then
      execute format('revoke all on sequence %s from public, anon, authenticated', obj.name);
      if exists (select 1 from pg_roles where rolname = 'service_role') then
        execute format('grant all on sequence %s to service_role', obj.name);
      end if;
    else
      -- Revoking on the table revokes its column grants too.
      execute format('revoke all on table %s from public, anon, authenticated', obj.name);
      if exists (select 1 from pg_roles where rolname = 'service_role') then
        execute format('grant all on table %s to service_role', obj.name);
      end if;
    end if;
  end loop;

  for obj in
    select p.oid::regprocedure as name
      from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.proname like 'oauth\_%'
  loop
    execute format('revoke all on function %s from public, anon, authenticated', obj.name);
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant all on function %s to service_role', obj.name);
    end if;
  end loop;

  -- What a signed-in user may read: the status of their own connections and
  -- their own refresh events. No sealed token, no lease column, no writes.
  execute 'grant select (id, user_id, provider, expires_at, refresh_token_expires_at, scope, status,
    last_error_code, last_error_message, last_error_at, failure_count, cooldown_until,
    token_refreshed_at, created_at, updated_at) on public.oauth_connections to authenticated';
  execute 'grant select on public.oauth_refresh_events to authenticated';
  -- Run again after 20261124090000_oauth_connect.sql, the revoke above also
  -- took the account columns that migration granted: granted again here.
  if exists (select 1 from information_schema.columns
              where table_schema = 'public' and table_name = 'oauth_connections'
                and column_name = 'account_id') then
    execute 'grant select (account_id, account_email, account_name) on public.oauth_connections
      to authenticated';
  end if;

  -- The row filters, recreated so the migration can run again (one policy per table).
  execute 'drop policy if exists oauth_connections_own_status on public.oauth_connections';
  execute 'create policy oauth_connections_own_status on public.oauth_connections
    for select to authenticated using (user_id = (select auth.uid()))';
  execute 'drop policy if exists oauth_refresh_events_own on public.oauth_refresh_events';
  execute 'create policy oauth_refresh_events_own on public.oauth_refresh_events
    for select to authenticated using (user_id = (select auth.uid()))';
end
$$;
