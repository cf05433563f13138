-- Every activity's Intune task that Intune has created, newest first, with the
-- activity's title and whether the request behind it was cancelled here.
select t.activity_id, a.title, t.task_id, t.status, t.assigned_to,
       t.updated_at, q.cancelled_at
from intune_tasks t
join activities a using (activity_id)
left join requests q using (activity_id)
where t.task_id is not null
order by t.created_at desc, t.activity_id;
