-- Overdue activities per device group (an activity counts in each group it
-- covers). Every known group shows, with 0 when nothing there is overdue; with
-- a selection only the selected groups show.
with overdue as (
    select unnest(device_groups) as group_name, activity_id
    from activity_rows($today, $groups)
    where overdue
),
shown as (
    select group_id, group_name from device_groups where $groups is null
    union all
    select s.group_id, group_label(s.group_id, g.group_name)
    from (select unnest(cast($groups as integer[])) as group_id) s
    left join device_groups g using (group_id)
),
counted as (
    select
        coalesce(s.group_name, o.group_name) as group_name,
        s.group_id,
        count(distinct o.activity_id) as overdue_activities
    from shown s
    full join overdue o using (group_name)
    where $groups is null or s.group_id is not null
    group by all
)
select group_name, group_id, overdue_activities
from counted
order by
    overdue_activities desc, group_name = 'Unassigned', lower(group_name), group_id;
