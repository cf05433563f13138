-- One row per device group in $groups (null: every group), by name with
-- Unassigned last. Each device counts once per activity it is exposed for.
--   exposed_devices: exposed now for an active activity;
--   fixed_7_days / fixed_30_days: fixes seen in the 7 / 30 days up to $now;
--   active_activities / overdue_activities: active activities with devices
--     in the group (overdue judged on $today);
--   fixed_share: of the devices active activities target in the group (still
--     exposed + fixed, each device's latest state), the share fixed;
--   median_days_to_fix: days from the activity's creation (the request) to the
--     fix, over every fix tracked in the group up to $now;
--   exposed_30_days_ago and change_30_days: exposed then (activities not yet
--     completed then) and the change since; null until the tracked history
--     reaches back 30 days.
with latest as (
    select * from latest_at($today, $now)
),
shares as (
    select
        l.group_id,
        count(*) filter (where l.last_reason = 'fixed') as fixed,
        count(*) filter (where l.is_open or l.last_reason = 'fixed') as targeted
    from latest l
    join progress_activities($today) a using (activity_id)
    where a.status = 'Active'
    group by l.group_id
),
now_open as (
    select group_id, count(*) as exposed
    from open_at($today, $now)
    group by group_id
),
then_open as (
    select group_id, count(*) as exposed
    from open_at($today, $now - interval 30 days)
    group by group_id
),
fixes as (
    select
        x.group_id,
        count(*) filter (where x.exposed_to > $now - interval 7 days) as fixed_7,
        count(*) filter (where x.exposed_to > $now - interval 30 days) as fixed_30,
        median(date_diff('second', a.created_on, x.exposed_to) / 86400.0)
            as median_days
    from exposures($today) x
    join progress_activities($today) a using (activity_id)
    where x.end_reason = 'fixed' and x.exposed_to <= $now
    group by x.group_id
),
activities as (
    select
        t.group_id,
        count(*) filter (where a.status = 'Active') as active,
        count(*) filter (where a.status = 'Active' and a.overdue) as overdue
    from touching($today) t
    join progress_activities($today) a using (activity_id)
    group by t.group_id
)
select
    g.group_id,
    g.group_name,
    coalesce(n.exposed, 0) as exposed_devices,
    coalesce(f.fixed_7, 0) as fixed_7_days,
    coalesce(f.fixed_30, 0) as fixed_30_days,
    coalesce(c.active, 0) as active_activities,
    coalesce(c.overdue, 0) as overdue_activities,
    case when s.targeted > 0 then s.fixed / s.targeted end as fixed_share,
    round(f.median_days, 1) as median_days_to_fix,
    case when r.reaches then coalesce(t.exposed, 0) end as exposed_30_days_ago,
    case when r.reaches then coalesce(n.exposed, 0) - coalesce(t.exposed, 0) end
        as change_30_days
from chosen_groups($groups) g
cross join (
    select coalesce(min(exposed_from) <= $now - interval 30 days, false) as reaches
    from exposure_intervals
) r
left join now_open n using (group_id)
left join then_open t using (group_id)
left join fixes f using (group_id)
left join activities c using (group_id)
left join shares s using (group_id)
order by g.group_id = 0, lower(g.group_name), g.group_id;
