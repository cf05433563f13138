-- A recommendation's exposed devices per device group, within the groups with
-- ids in $groups (null: all). Names come from device_groups (a renamed group
-- shows its current name), else from the exposed-device list. Most exposed
-- first, then by name, Unassigned last.
with counts as (
    select
        d.group_id,
        group_label(d.group_id, coalesce(g.group_name, any_value(d.group_name)))
            as group_name,
        count(*) as exposed_devices
    from recommendation_devices d
    left join device_groups g using (group_id)
    where d.recommendation_id = $recommendation_id
      and ($groups is null or list_contains(cast($groups as integer[]), d.group_id))
    group by d.group_id, g.group_name
)
select group_id, group_name, exposed_devices
from counts
order by exposed_devices desc, group_id = 0, lower(group_name), group_id;
