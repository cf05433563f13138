-- IT's answer as Graph reports it now.
update intune_tasks
set updated_at = case
        when status is distinct from $status
          or assigned_to is distinct from $assigned_to then $now
        else updated_at end,
    status = $status, assigned_to = $assigned_to, last_read_at = $now,
    last_error = $error
where activity_id = $activity_id;
