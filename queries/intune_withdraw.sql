-- A request cancelled before its task was created: nothing goes to Intune.
delete from intune_outbox where activity_id = $activity_id;
delete from intune_tasks where activity_id = $activity_id;
