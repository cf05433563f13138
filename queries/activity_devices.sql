-- The devices an activity lists as exposed, with their device group.
select
    d.machine_id,
    d.computer_dns_name,
    d.os_platform,
    coalesce(g.group_name, d.group_name) as device_group,
    m.last_seen,
    m.health_status
from activity_devices d
left join device_groups g using (group_id)
left join machines m using (machine_id)
where d.activity_id = $activity_id
order by d.computer_dns_name nulls last, d.machine_id;
