-- One snapshot per activity and device group for this run, and the day's
-- per-group totals. A device counts as fixed for an activity when its latest
-- exposure interval ended as fixed (its latest: nothing superseded it, as
-- `link_exposure` has just recorded).
insert into group_snapshots
select $run_id, $now, activity_id, group_id,
       count(*) filter (where is_open),
       count(*) filter (where last_reason = 'fixed')
from (
    select activity_id, machine_id, group_id,
           exposed_to is null as is_open,
           coalesce(end_reason, '') as last_reason
    from exposure_intervals
    where superseded_at is null
)
group by activity_id, group_id;

insert into activity_progress
select $run_id, $now, activity_id, status, fixed_devices, target_devices
from activities
where missing_since is null;

insert or replace into group_daily_totals
select cast($now as date), s.group_id,
       coalesce(sum(s.exposed_devices) filter (where a.status = 'Active'), 0),
       sum(s.fixed_devices),
       count(distinct s.activity_id) filter (where a.status = 'Active')
from group_snapshots s
join activities a using (activity_id)
where s.run_id = $run_id
group by s.group_id;
