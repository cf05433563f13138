-- A PATCH or updateStatus went through (or is moot): clear it.
update intune_tasks
set status = coalesce($status, status), last_error = null, updated_at = $now
where activity_id = $activity_id;

delete from intune_outbox
where activity_id = $activity_id and operation = $operation;
