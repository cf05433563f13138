-- After `merge_exposure`: the progress of each tracked activity filed here,
-- counted from its target devices' latest exposure intervals, and completion by
-- "System confirmation" once every target device is fixed. Attention-required
-- activities have nothing to monitor and never complete themselves.

-- Devices of a recommendation that left Defender's list count as fixed, whether
-- or not Defender still reports the device.
update exposure_intervals
set end_reason = 'fixed'
where exposed_to = $now
  and end_reason = 'no_longer_reported'
  and activity_id in (
      select activity_id from activities
      where activity_id in (select activity_id from s_tracked)
        and recommendation_gone_since is not null
  );

update activities a
set target_devices = p.targets,
    fixed_devices = p.fixed,
    devices_synced_at = $now
from (
    select t.activity_id,
           count(*) as targets,
           count(*) filter (where e.last_reason = 'fixed') as fixed
    from request_targets t
    join s_tracked using (activity_id)
    left join (
        select activity_id, machine_id,
               arg_max(coalesce(end_reason, ''), exposed_from) as last_reason
        from exposure_intervals
        where activity_id in (select activity_id from s_tracked)
        group by activity_id, machine_id
    ) e using (activity_id, machine_id)
    group by t.activity_id
) p
where a.activity_id = p.activity_id;

update activities
set status = 'Completed',
    completion_method = 'Automatic',
    status_changed_on = $now
where activity_id in (select activity_id from s_tracked)
  and remediation_type <> 'AttentionRequired'
  and target_devices > 0
  and fixed_devices = target_devices;
