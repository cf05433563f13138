-- Device groups with the number of machines in each, by name, Unassigned last.
-- A group known only from its machines' ids still shows (named by group_label).
with counts as (
    select group_id, count(*) as devices from machines group by group_id
),
ids as (
    select group_id from device_groups
    union
    select group_id from counts
)
select
    i.group_id,
    group_label(i.group_id, g.group_name) as group_name,
    coalesce(c.devices, 0) as devices
from ids i
left join device_groups g using (group_id)
left join counts c using (group_id)
order by i.group_id = 0, lower(group_label(i.group_id, g.group_name)), i.group_id;
