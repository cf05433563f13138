-- Machines are fetched whole every run: replace the list, and name the groups.
insert or replace into device_groups
select group_id, max(group_name), $run_id
from s_machines
where group_id is not null
group by group_id;

delete from machines;

insert or replace into machines
select
    m.machine_id, m.computer_dns_name, m.os_platform, m.os_version,
    coalesce(m.group_id, g.group_id, 0),
    m.health_status, m.onboarding_status, m.exposure_level, m.risk_score,
    m.device_value, m.merged_into, m.managed_by, m.first_seen, m.last_seen,
    m.machine_tags, m.is_excluded
from s_machines m
left join device_groups g on m.group_id is null and g.group_name = m.group_name;
