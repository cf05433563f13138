-- Every exposure interval of the activities about to be purged, for the archive.
select e.activity_id, a.title as activity, e.machine_id, m.computer_dns_name,
       g.group_name as device_group, e.exposed_from, e.exposed_to, e.end_reason
from exposure_intervals e
join purge_ids using (activity_id)
left join activities a using (activity_id)
left join machines m using (machine_id)
left join device_groups g on g.group_id = e.group_id
order by e.activity_id, e.machine_id, e.exposed_from;
