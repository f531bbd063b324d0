-- connection.disconnected names the account that was disconnected. The
-- store's disconnect erases account_id in the statement that sets the status,
-- so the trigger (20261125090000_oauth_operations.sql) read the erased value
-- and a receiver could not tell which account of the user's went away. The
-- function as before, taking the account from the old row when the new one
-- has none. security definer and its empty search_path are restated:
-- `create or replace` resets what it does not state (20261126090000).
create or replace function public.oauth_connection_webhook() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  kind text;
  prev text;
  cur text;
  r public.oauth_connections;
begin
  if tg_op = 'DELETE' then
    r := old;
    prev := old.status;
    cur := 'disconnected';
    if old.status <> 'disconnected' then kind := 'connection.disconnected'; end if;
  else
    r := new;
    -- A disconnect erases the account with the tokens: the message still
    -- names the account the connection was.
    r.account_id := coalesce(new.account_id, old.account_id);
    cur := new.status;
    if tg_op = 'INSERT' then
      if new.status = 'connected' then kind := 'connection.connected'; end if;
    elsif new.status is distinct from old.status then
      prev := old.status;
      kind := case new.status
        when 'connected' then
          case when old.status in ('error', 'token_expired') then 'connection.recovered'
               else 'connection.connected' end
        when 'needs_reauth' then 'connection.needs_reauth'
        when 'disconnected' then 'connection.disconnected'
      end;
    elsif new.refresh_expiry_warned_for is not null
          and new.refresh_expiry_warned_for is distinct from old.refresh_expiry_warned_for then
      kind := 'connection.refresh_token_expiring';
    end if;
  end if;
  if kind is null then
    return null;
  end if;
  insert into public.oauth_webhook_outbox (id, type, user_id, provider, body)
  values (
    'msg_' || replace(gen_random_uuid()::text, '-', ''),
    kind,
    r.user_id,
    r.provider,
    jsonb_build_object(
      'type', kind,
      'timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'data', jsonb_strip_nulls(jsonb_build_object(
        'userId', r.user_id,
        'provider', r.provider,
        'status', cur,
        'previousStatus', prev,
        'code', case when cur in ('needs_reauth', 'error') then r.last_error_code end,
        'accountId', r.account_id,
        'refreshTokenExpiresAt', case when kind = 'connection.refresh_token_expiring' then
          to_char(r.refresh_token_expires_at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end
      ))
    )::text
  );
  return null;
end
$$;
