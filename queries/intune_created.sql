-- Intune answered the create: record the task and clear its outbox row at once.
update intune_tasks
set task_id = $task_id, status = $status, assigned_to = $assigned_to,
    last_error = null, attempts = attempts + 1, updated_at = $now
where activity_id = $activity_id;

delete from intune_outbox where activity_id = $activity_id and operation = 'create';
