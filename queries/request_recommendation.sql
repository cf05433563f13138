-- A recommendation as the request form needs it, with the device groups that
-- have exposed devices for it (ids and exposed-device counts).
select
    r.recommendation_id, r.name, r.remediation_type, r.status,
    r.exposed_devices, r.no_user_impact_devices,
    (
        select list(group_id order by group_id)
        from (
            select distinct group_id from recommendation_devices d
            where d.recommendation_id = r.recommendation_id
        )
    ) as exposed_group_ids
from recommendations r
where r.recommendation_id = $recommendation_id;
