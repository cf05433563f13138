-- Remediation activities: replace each one Defender returned, keeping what the
-- store knows about its device list; flag (never delete) those it stopped returning.
-- Activities filed from this dashboard (source 'dashboard') are tracked apart.
insert or replace into activities (
    activity_id, title, description, related_component, requester_id,
    requester_email, requester_notes, status, remediation_type, category,
    productivity_impact, priority, completion_method, completer_id,
    completer_email, scid, product_id, vendor_id, name_id,
    recommended_version, recommended_vendor, recommended_program,
    created_on, status_changed_on, due_on, target_devices,
    fixed_devices, device_groups, devices_synced_at, devices_gone,
    missing_since, source
)
select
    s.activity_id, s.title, s.description, s.related_component, s.requester_id,
    s.requester_email, s.requester_notes, s.status, s.remediation_type, s.category,
    s.productivity_impact, s.priority, s.completion_method, s.completer_id,
    s.completer_email, s.scid, s.product_id, s.vendor_id, s.name_id,
    s.recommended_version, s.recommended_vendor, s.recommended_program,
    s.created_on, s.status_changed_on, s.due_on, s.target_devices,
    s.fixed_devices, s.device_groups,
    case when f.status = 'ok' then $now else a.devices_synced_at end,
    case
        when f.status = 'gone' then true
        when f.status = 'ok' then false
        else coalesce(a.devices_gone, false)
    end,
    null,
    'defender'
from (select distinct on (activity_id) * from s_activities) s
left join activities a using (activity_id)
left join s_fetched f on f.kind = 'activity_devices' and f.id = s.activity_id
where s.activity_id not in (select activity_id from purged_activities);

update activities
set missing_since = $now
where missing_since is null
  and source = 'defender'
  and activity_id not in (select activity_id from s_activities);

delete from activity_devices
where activity_id in (
    select id from s_fetched where kind = 'activity_devices' and status = 'ok'
);

-- A device listed twice for an activity is kept once. Rows go in by activity,
-- so reads of one activity skip the rest of the table.
insert into activity_devices
select distinct on (d.parent_id, d.machine_id)
    d.parent_id, d.machine_id, d.computer_dns_name, d.os_platform,
    coalesce(m.group_id, g.group_id, 0), coalesce(d.group_name, 'Unassigned')
from s_activity_devices d
left join machines m on m.machine_id = d.machine_id
left join device_groups g on m.machine_id is null and g.group_name = d.group_name
order by d.parent_id, d.machine_id;
