-- The devices a recommendation lists as exposed, within the device groups with
-- ids in $groups (null: all), by device name.
select
    d.machine_id,
    d.computer_dns_name,
    d.os_platform,
    d.group_id,
    group_label(d.group_id, coalesce(g.group_name, d.group_name)) as group_name
from recommendation_devices d
left join device_groups g using (group_id)
where d.recommendation_id = $recommendation_id
  and ($groups is null or list_contains(cast($groups as integer[]), d.group_id))
order by lower(d.computer_dns_name) nulls last, d.machine_id;
