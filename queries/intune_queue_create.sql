-- Queue the creation of an activity's Intune task; the caller runs this in the
-- transaction that files the request.
insert into intune_tasks (
    activity_id, task_id, kind, status, assigned_to, devices_sent, last_error,
    attempts, created_at, updated_at, last_read_at
) values (
    $activity_id, null, $kind, null, null, $devices_sent, null, 0, $now, $now,
    null
);

insert into intune_outbox (activity_id, operation, payload, queued_at)
values ($activity_id, 'create', $payload, $now);
