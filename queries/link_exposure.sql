-- Recompute regressed, fixed_before and superseded_at (see schema_v4) for the
-- intervals of the activities in the temp table `exposure_to_link`, writing
-- only the rows whose values change.
update exposure_intervals e
set regressed = w.regressed,
    fixed_before = w.fixed_before,
    superseded_at = w.superseded_at
from (
    select
        activity_id,
        machine_id,
        exposed_from,
        coalesce(lag(end_reason) over device = 'fixed', false) as regressed,
        case when lag(end_reason) over device = 'fixed'
            then lag(exposed_to) over device
        end as fixed_before,
        lead(exposed_from) over device as superseded_at
    from exposure_intervals
    where activity_id in (select activity_id from exposure_to_link)
    window device as (partition by activity_id, machine_id order by exposed_from)
) w
where e.activity_id = w.activity_id
  and e.machine_id = w.machine_id
  and e.exposed_from = w.exposed_from
  and (
      e.regressed is distinct from w.regressed
      or e.fixed_before is distinct from w.fixed_before
      or e.superseded_at is distinct from w.superseded_at
  );
