-- Intune security tasks IT rejected, for activities in the device groups with
-- ids in $groups (null: all), newest task first. A request its requester
-- cancelled here closes its task as rejected too: that is not IT's answer.
select r.activity_id, r.title, r.task_assigned_to as assigned_to
from activity_rows($today, $groups) r
join intune_tasks t using (activity_id)
where t.task_id is not null
  and r.task_status = 'rejected'
  and r.request_cancelled_at is null
order by t.created_at desc, r.activity_id;
