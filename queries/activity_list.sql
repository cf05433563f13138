-- Remediation activities with the portal's columns, for pages and exports.
-- Filters are optional: a null parameter means "all". Overdue: an active
-- activity whose due date (a UTC calendar date) is before $today (UTC).
select
    a.activity_id,
    a.title as activity,
    a.remediation_type,
    a.priority,
    a.requester_email as created_by,
    a.created_on,
    a.due_on,
    coalesce(
        a.status = 'Active' and c.activity_id is null and a.due_on < $today, false
    ) as overdue,
    case when c.activity_id is not null then 'Completed' else a.status end as status,
    a.fixed_devices,
    a.target_devices,
    case
        when c.activity_id is not null then c.completed_by
        when a.status <> 'Completed' then null
        when a.completer_email is not null then a.completer_email
        when a.completion_method = 'Automatic' then 'System confirmation'
        else 'N/A'
    end as completed_by,
    case
        when c.activity_id is not null then c.completed_at
        when a.status = 'Completed' then a.status_changed_on
    end as completed_on,
    c.activity_id is not null as completed_here,
    a.device_groups,
    a.related_component,
    a.requester_notes,
    a.missing_since,
    coalesce(a.source, 'defender') as source
from activities a
left join completions c using (activity_id)
where ($status is null or a.status = $status)
  and ($priority is null or a.priority = $priority)
  and ($groups is null or list_has_any(a.device_groups, $groups))
order by a.created_on desc nulls last, a.activity_id;
