-- Active activities with a due date (attention-required ones have none), most
-- urgent first: overdue, nearest due date, most devices still exposed, then
-- title and id so ties always come out in the same order. With device groups
-- chosen, the group_* columns give the devices in those groups (from our
-- tracking; null for an activity never tracked), "still exposed" counts
-- those groups' devices where known, and one with none left there is left out.
with scoped as (
    select
        r.*,
        p.fixed_devices as group_fixed_devices,
        p.target_devices as group_target_devices,
        p.target_devices - p.fixed_devices as group_exposed_devices
    from activity_rows($today, $groups) r
    left join group_scoped_progress($groups) p
      on $groups is not null and p.activity_id = r.activity_id
    where r.status = 'Active' and r.has_progress and r.due_on is not null
)
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
    device_groups,
    group_fixed_devices,
    group_target_devices,
    group_exposed_devices,
    case
        when group_target_devices > 0
        then group_fixed_devices / group_target_devices
    end as group_progress
from scoped
-- With groups chosen, an activity whose devices there are all fixed needs
-- nothing more from them, however late it is elsewhere.
where not coalesce(group_target_devices > 0 and group_exposed_devices = 0, false)
order by
    overdue desc,
    due_on,
    coalesce(group_exposed_devices, exposed_devices) desc nulls last,
    title nulls last,
    activity_id
limit $limit;
