-- Per day and device group: devices fixed and still exposed (daily totals kept
-- after retention purges, so the past does not change). Null $groups: all.
select
    t.day,
    t.group_id,
    group_label(t.group_id, g.group_name) as group_name,
    t.fixed_devices,
    t.exposed_devices,
    t.active_activities
from group_daily_totals t
left join device_groups g using (group_id)
where $groups is null or list_contains(cast($groups as integer[]), t.group_id)
order by
    t.day, t.group_id = 0, lower(group_label(t.group_id, g.group_name)), t.group_id;
