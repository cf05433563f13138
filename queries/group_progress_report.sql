-- The progress report for the period [$start, $end) (UTC; $end_day is its
-- last day), over the device groups of $groups (null: all). One row per
-- device group (level 'group'), then one per activity with devices in those
-- groups that was active during the period (level 'activity'), its figures
-- over the chosen groups' devices only.
--   exposed_at_start / exposed_at_end: devices exposed then, for activities
--     not completed by then; fixed / regressions: fixes and devices exposed
--     again during the period; median_days_to_fix: request to fix, over the
--     period's fixes; completed_activities: completed during the period;
--     overdue_at_end: activities overdue on the last day.
with chosen as (
    select * from chosen_groups($groups)
),
at_start as (
    select group_id, activity_id, count(*) as exposed
    from open_at($today, $start)
    group by all
),
at_end as (
    select group_id, activity_id, count(*) as exposed
    from open_at($today, $end)
    group by all
),
moves as (
    select
        x.group_id,
        x.activity_id,
        count(*) filter (
            where x.end_reason = 'fixed' and x.exposed_to >= $start
              and x.exposed_to < $end
        ) as fixed,
        count(*) filter (
            where x.regressed and x.exposed_from >= $start and x.exposed_from < $end
        ) as regressions
    from exposures($today) x
    group by all
),
overdue as (
    select activity_id from overdue_on($today, cast($end_day as date))
),
per_pair as (
    select
        t.group_id,
        t.activity_id,
        coalesce(s.exposed, 0) as exposed_at_start,
        coalesce(e.exposed, 0) as exposed_at_end,
        coalesce(m.fixed, 0) as fixed,
        coalesce(m.regressions, 0) as regressions
    from touching($today) t
    join chosen c using (group_id)
    left join at_start s using (group_id, activity_id)
    left join at_end e using (group_id, activity_id)
    left join moves m using (group_id, activity_id)
),
in_period as (
    select a.*
    from progress_activities($today) a
    where a.activity_id in (select activity_id from per_pair)
      and a.created_on < $end
      and (a.status = 'Active' or a.completed_on >= $start)
),
fix_days as (
    select
        x.group_id,
        x.activity_id,
        date_diff('second', a.created_on, x.exposed_to) / 86400.0 as days
    from exposures($today) x
    join progress_activities($today) a using (activity_id)
    join chosen c using (group_id)
    where x.end_reason = 'fixed' and x.exposed_to >= $start and x.exposed_to < $end
),
groups_level as (
    select
        'group' as level,
        c.group_id,
        c.group_name,
        null as activity_id,
        null as title,
        null as priority,
        cast(null as date) as due_on,
        null as status,
        cast(coalesce(sum(p.exposed_at_start), 0) as bigint) as exposed_at_start,
        cast(coalesce(sum(p.exposed_at_end), 0) as bigint) as exposed_at_end,
        cast(coalesce(sum(p.fixed), 0) as bigint) as fixed,
        cast(coalesce(sum(p.regressions), 0) as bigint) as regressions,
        (
            select round(median(d.days), 1) from fix_days d
            where d.group_id = c.group_id
        ) as median_days_to_fix,
        count(*) filter (
            where a.status = 'Completed' and a.completed_on >= $start
              and a.completed_on < $end
        ) as completed_activities,
        count(*) filter (where a.activity_id in (select * from overdue))
            as overdue_activities,
        cast(null as boolean) as overdue_at_end,
        0 as kind_order
    from chosen c
    left join per_pair p using (group_id)
    left join in_period a using (activity_id)
    group by c.group_id, c.group_name
),
activities_level as (
    select
        'activity' as level,
        cast(null as integer) as group_id,
        null as group_name,
        a.activity_id,
        a.title,
        a.priority,
        a.due_on,
        a.status,
        cast(sum(p.exposed_at_start) as bigint),
        cast(sum(p.exposed_at_end) as bigint),
        cast(sum(p.fixed) as bigint),
        cast(sum(p.regressions) as bigint),
        (
            select round(median(d.days), 1) from fix_days d
            where d.activity_id = a.activity_id
        ),
        cast(null as bigint),
        cast(null as bigint),
        a.activity_id in (select * from overdue),
        1
    from in_period a
    join per_pair p using (activity_id)
    group by a.activity_id, a.title, a.priority, a.due_on, a.status
)
select * exclude (kind_order)
from (select * from groups_level union all select * from activities_level)
order by
    kind_order,
    group_id = 0,
    lower(group_name),
    group_id,
    due_on nulls last,
    title,
    activity_id;
