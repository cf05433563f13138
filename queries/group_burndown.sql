-- The burn-down of one device group ($group_id): per UTC day, from the first
-- day its devices were tracked for an activity active now until $today, the
-- devices still exposed at the end of that day (at $now for today) across
-- those activities.
with tracked as (
    select x.*
    from exposures($today) x
    join progress_activities($today) a using (activity_id)
    where a.status = 'Active' and x.group_id = $group_id and x.exposed_from <= $now
),
days as (
    select cast(unnest(generate_series(
        cast(min(exposed_from) as date), cast($today as date), interval 1 day
    )) as date) as day
    from tracked
),
ends as (
    select day, least(cast(day as timestamptz) + interval 1 day, $now) as moment
    from days
)
select
    e.day,
    count(t.activity_id) as exposed_devices
from ends e
left join tracked t
  on t.exposed_from <= e.moment
 and (t.exposed_to is null or t.exposed_to > e.moment)
group by e.day
order by e.day;
