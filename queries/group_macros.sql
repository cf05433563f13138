-- Macros the Device groups page's reads share, defined on each read connection
-- after read_macros (temp: they vanish when it closes). Every figure comes
-- from the exposure history (exposure_intervals) and follows activities with
-- device progress: attention-required activities have nothing to monitor and
-- are left out. A device counts once per activity it is exposed for.

-- Activities with device progress, with status, due date and completion time
-- as every list shows them (activity_rows in read_macros).
create or replace temp macro progress_activities(today) as table
select activity_id, title, priority, due_on, status, created_on, completed_on, overdue
from activity_rows(today, null)
where has_progress;

-- Every exposure interval of those activities, with its links (schema_v4):
-- `regressed` (a fixed device exposed again) and `fixed_before` (when that fix
-- was seen).
create or replace temp macro exposures(today) as table
select
    e.activity_id,
    e.machine_id,
    e.group_id,
    e.exposed_from,
    e.exposed_to,
    e.end_reason,
    e.regressed,
    e.fixed_before,
    e.superseded_at
from exposure_intervals e
where e.activity_id in (select activity_id from progress_activities(today));

-- Each device's latest interval for each activity as of `moment`: its group,
-- whether it is still open then, and how it ended ('' while open).
create or replace temp macro latest_at(today, moment) as table
select
    activity_id,
    machine_id,
    group_id,
    exposed_to is null or exposed_to > moment as is_open,
    coalesce(end_reason, '') as last_reason
from exposures(today)
where exposed_from <= moment
  and (superseded_at is null or superseded_at > moment);

-- The intervals open at `moment`, of activities not completed by then.
create or replace temp macro open_at(today, moment) as table
select x.*
from exposures(today) x
join progress_activities(today) a using (activity_id)
where x.exposed_from <= moment
  and (x.exposed_to is null or x.exposed_to > moment)
  and (a.status = 'Active' or a.completed_on > moment);

-- The activities overdue on `day` (a UTC date): created by its end, not
-- completed before its end, due before it. For today this is the lists'
-- "overdue".
create or replace temp macro overdue_on(today, day) as table
select activity_id
from progress_activities(today)
where due_on < day
  and created_on < cast(day as timestamptz) + interval 1 day
  and (status = 'Active' or completed_on >= cast(day as timestamptz) + interval 1 day);

-- Which device groups each activity touches: those its devices were ever
-- exposed in.
create or replace temp macro touching(today) as table
select distinct activity_id, group_id from exposures(today);

-- A device group's id and display name, for the ids in `groups` (null: every
-- group known from machines or from the history).
create or replace temp macro chosen_groups(groups) as table
select i.group_id, group_label(i.group_id, g.group_name) as group_name
from (
    select group_id from device_groups
    union
    select group_id from exposure_intervals where group_id is not null
) i
left join device_groups g using (group_id)
where groups is null or list_contains(cast(groups as integer[]), i.group_id);

-- The forecast of every active activity, over the whole activity (group_id
-- null) and per device group. The net fix rate is devices fixed minus devices
-- exposed again over the last 14 days (or since tracking began, when that is
-- shorter), per day; the devices still exposed at that rate give the projected
-- completion date. flag: finished (none exposed), not_enough_history (tracked
-- under 7 days), stalled (none fixed in 14 days), no_net_progress (as many
-- exposed again as fixed), no_due_date, on_track (projected on or before the
-- due date), will_miss (days_late after it).
create or replace temp macro forecasts(today, now) as table
with figures as (
    select
        x.activity_id,
        x.group_id,
        grouping(x.group_id) = 1 as whole_activity,
        count(*) filter (where x.exposed_to is null or x.exposed_to > now)
            as exposed_devices,
        count(*) filter (
            where x.end_reason = 'fixed'
              and x.exposed_to > now - interval 14 days and x.exposed_to <= now
        ) as fixed_14_days,
        count(*) filter (
            where x.regressed and x.exposed_from > now - interval 14 days
        ) as regressed_14_days,
        min(x.exposed_from) as tracked_since
    from exposures(today) x
    join progress_activities(today) a using (activity_id)
    where a.status = 'Active' and x.exposed_from <= now
    group by grouping sets ((x.activity_id), (x.activity_id, x.group_id))
),
rated as (
    select
        f.*,
        a.due_on,
        date_diff('second', f.tracked_since, now) / 86400.0 as tracked_days,
        (f.fixed_14_days - f.regressed_14_days)
            / least(14.0, date_diff('second', f.tracked_since, now) / 86400.0)
            as net_per_day
    from figures f
    join progress_activities(today) a using (activity_id)
),
projected as (
    select
        r.*,
        case
            when r.exposed_devices > 0 and r.tracked_days >= 7
                 and r.fixed_14_days > 0 and r.net_per_day > 0
            then cast(
                now + to_seconds(r.exposed_devices / r.net_per_day * 86400) as date
            )
        end as projected_on
    from rated r
)
select
    activity_id,
    case when whole_activity then null else group_id end as group_id,
    whole_activity,
    exposed_devices,
    fixed_14_days,
    regressed_14_days,
    tracked_since,
    case when tracked_days >= 7 then net_per_day end as net_per_day,
    due_on,
    projected_on,
    case
        when exposed_devices = 0 then 'finished'
        when tracked_days < 7 then 'not_enough_history'
        when fixed_14_days = 0 then 'stalled'
        when net_per_day <= 0 then 'no_net_progress'
        when due_on is null then 'no_due_date'
        when projected_on <= due_on then 'on_track'
        else 'will_miss'
    end as flag,
    case when projected_on > due_on then projected_on - due_on end as days_late
from projected;
