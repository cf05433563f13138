-- This UTC calendar month (up to $now) against the last one, per device group
-- of $groups (null: all): devices fixed, activities completed (with devices in
-- the group) and activities overdue at the month's end (today for this month).
with bounds as (
    select
        cast(date_trunc('month', cast($today as date)) as date) as this_start,
        cast(date_trunc('month', cast($today as date)) - interval 1 month as date)
            as last_start
),
fixes as (
    select
        x.group_id,
        count(*) filter (where x.exposed_to >= b.this_start) as fixed_this,
        count(*) filter (where x.exposed_to < b.this_start) as fixed_last
    from exposures($today) x
    cross join bounds b
    where x.end_reason = 'fixed'
      and x.exposed_to >= b.last_start
      and x.exposed_to <= $now
    group by x.group_id
),
completed as (
    select
        t.group_id,
        count(*) filter (where a.completed_on >= b.this_start) as completed_this,
        count(*) filter (where a.completed_on < b.this_start) as completed_last
    from touching($today) t
    join progress_activities($today) a using (activity_id)
    cross join bounds b
    where a.status = 'Completed'
      and a.completed_on >= b.last_start
      and a.completed_on <= $now
    group by t.group_id
),
overdue_this as (
    select t.group_id, count(*) as overdue
    from touching($today) t
    join overdue_on($today, cast($today as date)) o using (activity_id)
    group by t.group_id
),
overdue_last as (
    select t.group_id, count(*) as overdue
    from touching($today) t
    join overdue_on(
        $today, cast(date_trunc('month', cast($today as date)) as date) - 1
    ) o using (activity_id)
    group by t.group_id
)
select
    g.group_id,
    g.group_name,
    coalesce(f.fixed_this, 0) as fixed_this_month,
    coalesce(f.fixed_last, 0) as fixed_last_month,
    coalesce(c.completed_this, 0) as completed_this_month,
    coalesce(c.completed_last, 0) as completed_last_month,
    coalesce(ot.overdue, 0) as overdue_now,
    coalesce(ol.overdue, 0) as overdue_end_of_last_month
from chosen_groups($groups) g
left join fixes f using (group_id)
left join completed c using (group_id)
left join overdue_this ot using (group_id)
left join overdue_last ol using (group_id)
order by g.group_id = 0, lower(g.group_name), g.group_id;
