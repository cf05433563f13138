-- The requester changes the due date, priority or notes of an active request.
update requests
set due_on = $due_on, priority = $priority, notes = $notes
where activity_id = $activity_id;

update activities
set due_on = $due_on, priority = $priority, requester_notes = $notes
where activity_id = $activity_id;
