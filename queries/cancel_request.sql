-- The requester cancels an active request; it stays in the store and history.
update requests
set cancelled_by = $cancelled_by, cancelled_at = $cancelled_at
where activity_id = $activity_id;

update activities
set status = 'Cancelled', status_changed_on = $cancelled_at
where activity_id = $activity_id;
