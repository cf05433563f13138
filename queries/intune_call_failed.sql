-- A call failed: keep it queued with the reason, for the next delivery.
update intune_outbox
set claimed_at = null, last_error = $error, in_doubt = in_doubt or $in_doubt,
    not_before = $not_before
where activity_id = $activity_id and operation = $operation;

update intune_tasks
set last_error = $error, updated_at = $now,
    attempts = attempts + (case when $operation = 'create' then 1 else 0 end)
where activity_id = $activity_id;
