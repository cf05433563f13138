-- Active activities with a due date (attention-required ones have none), most
-- urgent first: overdue, nearest due date, most devices still exposed, then
-- title and id so ties always come out in the same order.
select
    activity_id,
    title,
    priority,
    due_on,
    overdue,
    fixed_devices,
    target_devices,
    exposed_devices,
    progress,
    device_groups
from activity_rows($today, $groups)
where status = 'Active' and has_progress and due_on is not null
order by
    overdue desc,
    due_on,
    exposed_devices desc nulls last,
    title nulls last,
    activity_id
limit $limit;
