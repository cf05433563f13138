-- A request filed here, with its activity's current status.
select q.*, a.status, a.title, c.activity_id is not null as completed_here
from requests q
join activities a using (activity_id)
left join completions c using (activity_id)
where q.activity_id = $activity_id;
