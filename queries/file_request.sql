-- File a remediation request: the request as submitted, its target devices
-- (the recommendation's exposed devices in the chosen groups, captured now),
-- its activity row (source 'dashboard') and the opening exposure intervals.
-- The caller runs this in one transaction after validating the form.
insert into requests values (
    $activity_id, $form_token, $recommendation_id, $remediation_type,
    $target_scope, $group_ids, $priority, $due_on, $notes, $requested_by,
    $requested_at, null, null
);

insert into request_targets
select $activity_id, d.machine_id, d.computer_dns_name, d.os_platform,
       d.group_id, coalesce(g.group_name, d.group_name)
from recommendation_devices d
left join device_groups g using (group_id)
where d.recommendation_id = $recommendation_id
  and list_contains(cast($group_ids as integer[]), d.group_id);

insert into activities (
    activity_id, title, description, related_component, requester_email,
    requester_notes, status, remediation_type, category, priority,
    recommended_version, recommended_vendor, recommended_program, created_on,
    status_changed_on, due_on, target_devices, fixed_devices, device_groups,
    devices_synced_at, devices_gone, source, recommendation_id, target_scope
)
select
    $activity_id, r.name, $description, r.related_component, $requested_by,
    $notes, 'Active', $remediation_type, r.category, $priority,
    r.recommended_version, r.vendor, r.product_name, $requested_at,
    $requested_at, $due_on, t.devices, 0, t.group_names, $requested_at, false,
    'dashboard', r.recommendation_id, $target_scope
from recommendations r
cross join (
    select count(*) as devices, list(distinct group_name order by group_name)
        as group_names
    from request_targets
    where activity_id = $activity_id
) t
where r.recommendation_id = $recommendation_id;

insert into activity_devices
select activity_id, machine_id, computer_dns_name, os_platform, group_id,
       group_name
from request_targets
where activity_id = $activity_id;

insert into exposure_intervals
    (activity_id, machine_id, group_id, exposed_from, exposed_to, end_reason)
select activity_id, machine_id, group_id, $requested_at, null, null
from request_targets
where activity_id = $activity_id;
