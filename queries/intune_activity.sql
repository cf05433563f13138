-- What an Intune task is built from: a request filed here and its activity.
select a.activity_id, a.title, a.description, a.remediation_type,
       a.recommended_program, a.recommended_vendor, a.recommended_version,
       a.target_devices, q.priority, q.due_on, q.notes, q.requested_by,
       t.task_id, t.status as task_status
from requests q
join activities a using (activity_id)
left join intune_tasks t using (activity_id)
where q.activity_id = $activity_id;
