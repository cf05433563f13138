-- An activity's devices per device group at its latest snapshot, and when our
-- tracking of it began (its first snapshot). Counts start at that moment.
with snapshots as (
    select * from group_snapshots where activity_id = $activity_id
),
latest as (
    select max(run_id) as run_id, min(taken_at) as tracked_since from snapshots
)
select
    s.group_id,
    group_label(s.group_id, g.group_name) as group_name,
    s.exposed_devices,
    s.fixed_devices,
    l.tracked_since,
    s.taken_at as as_of
from snapshots s
join latest l using (run_id)
left join device_groups g using (group_id)
order by s.group_id = 0, lower(group_label(s.group_id, g.group_name)), s.group_id;
