-- The home page's headline figures now and as of the end of the UTC day a week
-- before $today. The past figures are rebuilt from when each activity was
-- created and completed (completion here, else Defender's last status change);
-- Defender's device counters a week ago come from the progress each activity
-- had at the last successful sync before then. history_reaches says whether a
-- successful sync had run by then.
with r as (
    select * from activity_rows($today, $groups)
),
bounds as (
    select
        cast($today as date) - 7 as week_ago,
        cast($today as date) - 6 as week_ago_end
),
week_run as (
    select max(s.run_id) as run_id
    from sync_runs s, bounds b
    where s.outcome = 'succeeded' and s.finished_at < b.week_ago_end
),
progress_then as (
    select
        cast(coalesce(sum(p.fixed_devices), 0) as bigint) as fixed,
        cast(coalesce(sum(p.target_devices), 0) as bigint) as targeted
    from activity_progress p
    join week_run w on p.run_id = w.run_id
    join r on r.activity_id = p.activity_id
    where p.status = 'Active' and r.has_progress
),
past as (
    select
        r.*,
        r.created_on < b.week_ago_end and (
            r.status = 'Active'
            or (r.status = 'Completed' and r.completed_on >= b.week_ago_end)
        ) as active_then,
        b.week_ago,
        b.week_ago_end
    from r, bounds b
)
select
    count(*) filter (where status = 'Active') as active_activities_now,
    count(*) filter (where active_then) as active_activities_week_ago,
    count(*) filter (where overdue) as overdue_activities_now,
    count(*) filter (
        where active_then and has_progress and due_on < week_ago
    ) as overdue_activities_week_ago,
    cast(coalesce(sum(fixed_devices) filter (
        where status = 'Active' and has_progress
    ), 0) as bigint) as devices_fixed_now,
    cast(coalesce(sum(target_devices) filter (
        where status = 'Active' and has_progress
    ), 0) as bigint) as devices_targeted_now,
    any_value(progress_then.fixed) as devices_fixed_week_ago,
    any_value(progress_then.targeted) as devices_targeted_week_ago,
    count(*) filter (
        where completed_on >= cast($today as date) - 29
          and completed_on < cast($today as date) + 1
    ) as completed_last_30_days_now,
    count(*) filter (
        where completed_on >= week_ago - 29 and completed_on < week_ago_end
    ) as completed_last_30_days_week_ago,
    coalesce((
        select min(finished_at) from sync_runs where outcome = 'succeeded'
    ) < any_value(week_ago_end), false) as history_reaches
from past, progress_then;
