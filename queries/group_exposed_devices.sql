-- The devices of one device group ($group_id) still exposed for an active
-- activity, longest exposed first: one row per device and activity, with the
-- whole days since this exposure began and whether it followed a fix.
select
    x.machine_id,
    m.computer_dns_name,
    m.os_platform,
    x.activity_id,
    a.title,
    x.exposed_from,
    date_diff('second', x.exposed_from, $now) // 86400 as days_exposed,
    x.regressed
from open_at($today, $now) x
join progress_activities($today) a using (activity_id)
left join machines m using (machine_id)
where x.group_id = $group_id
order by x.exposed_from, m.computer_dns_name, x.machine_id, a.title, x.activity_id;
