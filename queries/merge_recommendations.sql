-- Recommendations are fetched whole every run; their exposed-device lists only
-- when fetched again (a recommendation with no exposed devices has none).
delete from recommendations;

insert or replace into recommendations
select
    recommendation_id, name, product_name, vendor, recommended_version,
    category, sub_category, remediation_type, status, related_component,
    weaknesses, total_devices, exposed_devices, no_user_impact_devices,
    exposed_critical_devices, severity_score, config_score_impact,
    exposure_impact, public_exploit, active_alert, associated_threats, tags
from (select distinct on (recommendation_id) * from s_recommendations);

delete from recommendation_devices
where recommendation_id not in (select recommendation_id from recommendations)
   or recommendation_id in (
       select recommendation_id from recommendations where exposed_devices = 0
   )
   or recommendation_id in (
       select id from s_fetched
       where kind = 'recommendation_devices' and status = 'ok'
   );

insert or replace into recommendation_devices
select
    d.parent_id, d.machine_id, d.computer_dns_name, d.os_platform,
    coalesce(m.group_id, g.group_id, 0), coalesce(d.group_name, 'Unassigned')
from s_recommendation_devices d
left join machines m on m.machine_id = d.machine_id
left join device_groups g on m.machine_id is null and g.group_name = d.group_name;
