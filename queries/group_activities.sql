-- The active activities with devices in one device group ($group_id), with the
-- group's own progress from the exposure history (not the activity's global
-- figures) and the group's forecast (see `forecasts`): overdue first, then by
-- due date, title and id.
with latest as (
    select * from latest_at($today, $now)
),
progress as (
    select
        activity_id,
        count(*) filter (where is_open) as exposed_devices,
        count(*) filter (where last_reason = 'fixed') as fixed_devices
    from latest
    where group_id = $group_id
    group by activity_id
)
select
    a.activity_id,
    a.title,
    a.priority,
    a.due_on,
    a.overdue,
    coalesce(p.exposed_devices, 0) as exposed_devices,
    coalesce(p.fixed_devices, 0) as fixed_devices,
    coalesce(p.exposed_devices, 0) + coalesce(p.fixed_devices, 0) as target_devices,
    case
        when coalesce(p.exposed_devices, 0) + coalesce(p.fixed_devices, 0) > 0
        then coalesce(p.fixed_devices, 0)
            / (coalesce(p.exposed_devices, 0) + coalesce(p.fixed_devices, 0))
    end as fixed_share,
    f.fixed_14_days,
    f.regressed_14_days,
    f.net_per_day,
    f.projected_on,
    f.flag,
    f.days_late
from progress_activities($today) a
join touching($today) t on t.activity_id = a.activity_id and t.group_id = $group_id
left join progress p on p.activity_id = a.activity_id
left join forecasts($today, $now) f
  on f.activity_id = a.activity_id and f.group_id = $group_id
where a.status = 'Active'
order by a.overdue desc, a.due_on nulls last, a.title, a.activity_id;
