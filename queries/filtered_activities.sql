-- Remediation activities with the portal's columns, filtered. A null filter
-- means "all"; an empty list matches nothing. $search is matched literally
-- (no wildcards) and case-insensitively on title and related component. With
-- device groups chosen, the group_* columns give the devices in those groups
-- (from our tracking; null for an activity never tracked).
select
    r.activity_id,
    title as activity,
    remediation_type,
    priority,
    created_by,
    created_on,
    due_on,
    overdue,
    status,
    r.fixed_devices,
    r.target_devices,
    progress,
    has_progress,
    completed_by,
    completed_on,
    completed_here,
    device_groups,
    related_component,
    requester_notes,
    missing_since,
    source,
    has_task,
    task_id,
    task_status,
    task_create_error,
    request_cancelled_at,
    p.fixed_devices as group_fixed_devices,
    p.target_devices as group_target_devices,
    case
        when has_progress and p.target_devices > 0
        then p.fixed_devices / p.target_devices
    end as group_progress
from activity_rows($today, $groups) r
left join group_scoped_progress($groups) p
  on $groups is not null and p.activity_id = r.activity_id
where ($status is null or status = $status)
  and ($priorities is null or list_contains(cast($priorities as varchar[]), priority))
  and ($sources is null or list_contains(cast($sources as varchar[]), source))
  and ($types is null or list_contains(cast($types as varchar[]), remediation_type))
  and ($created_by is null
       or list_contains(cast($created_by as varchar[]), lower(created_by)))
  and ($due_from is null or due_on >= cast($due_from as date))
  and ($due_to is null or due_on <= cast($due_to as date))
  and (not $overdue_only or overdue)
  and ($search is null
       or contains(lower(coalesce(title, '')), lower($search))
       or contains(lower(coalesce(related_component, '')), lower($search)))
order by created_on desc nulls last, r.activity_id;
