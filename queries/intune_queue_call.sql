-- Queue a PATCH or updateStatus; a newer one replaces one not yet sent.
insert into intune_outbox (activity_id, operation, payload, queued_at)
values ($activity_id, $operation, $payload, $now)
on conflict (activity_id, operation) do update set
    payload = excluded.payload, queued_at = excluded.queued_at, attempts = 0,
    last_error = null, not_before = null;
