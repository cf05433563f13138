-- An activity's exposed and fixed devices at every snapshot, summed over groups.
select
    taken_at,
    cast(sum(exposed_devices) as bigint) as exposed_devices,
    cast(sum(fixed_devices) as bigint) as fixed_devices
from group_snapshots
where activity_id = $activity_id
group by run_id, taken_at
order by taken_at, run_id;
