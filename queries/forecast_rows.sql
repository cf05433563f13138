-- The forecast of each active activity with devices in the device groups of
-- $groups (null: all): one row for the whole activity, then one per chosen
-- group it has devices in. Activities by due date (none last), title and id;
-- groups by name, Unassigned last.
with chosen as (
    select * from chosen_groups($groups)
),
-- With every group chosen, every forecast is shown: no need to look.
shown as (
    select distinct t.activity_id
    from touching($today) t
    join chosen c using (group_id)
    where $groups is not null
)
select
    f.activity_id,
    a.title,
    a.priority,
    f.whole_activity,
    f.group_id,
    case when f.whole_activity then 'Whole activity' else c.group_name end
        as group_name,
    f.exposed_devices,
    f.fixed_14_days,
    f.regressed_14_days,
    f.net_per_day,
    f.tracked_since,
    f.due_on,
    f.projected_on,
    f.flag,
    f.days_late
from forecasts($today, $now) f
join progress_activities($today) a using (activity_id)
left join chosen c on c.group_id = f.group_id
where (f.whole_activity or c.group_id is not null)
  and ($groups is null or f.activity_id in (select activity_id from shown))
order by
    a.due_on nulls last,
    a.title,
    f.activity_id,
    not f.whole_activity,
    c.group_id = 0,
    lower(c.group_name),
    f.group_id;
