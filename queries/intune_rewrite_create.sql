-- The task is not created yet: the queued create carries the new values.
update intune_outbox set payload = $payload
where activity_id = $activity_id and operation = 'create';
