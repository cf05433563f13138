-- Every device ever exposed for an activity, with its state from its latest
-- exposure interval: Exposed (open), Fixed, No longer reported (left for another
-- reason) or Moved (its group changed). regressed: exposed again after a fix.
with intervals as (
    select
        e.*,
        min(e.exposed_from) over device as first_exposed,
        count(*) filter (where e.end_reason = 'fixed') over device as times_fixed
    from exposure_intervals e
    where e.activity_id = $activity_id
    window device as (partition by e.machine_id)
    qualify row_number() over (
        partition by e.machine_id order by e.exposed_from desc
    ) = 1
)
select
    i.machine_id,
    coalesce(m.computer_dns_name, d.computer_dns_name) as computer_dns_name,
    coalesce(m.os_platform, d.os_platform) as os_platform,
    i.group_id,
    group_label(i.group_id, g.group_name) as group_name,
    i.first_exposed,
    case when i.end_reason = 'fixed' then i.exposed_to end as fixed_on,
    case
        when i.exposed_to is null then 'Exposed'
        when i.end_reason = 'fixed' then 'Fixed'
        when i.end_reason = 'moved' then 'Moved'
        else 'No longer reported'
    end as status,
    i.exposed_to is null and i.times_fixed > 0 as regressed
from intervals i
left join machines m using (machine_id)
left join (
    select * from activity_devices where activity_id = $activity_id
) d using (machine_id)
left join device_groups g on g.group_id = i.group_id
order by
    coalesce(m.computer_dns_name, d.computer_dns_name) nulls last, i.machine_id;
