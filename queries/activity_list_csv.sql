-- The activity list as its CSV shows it, with the pages' words for remediation
-- type, ticket status and source (functions `exports.add_label_functions`
-- defines). The placeholder in braces below stands for the text of
-- filtered_activities.sql, whose parameters this query takes.
select
    activity_id,
    activity,
    csv_remediation_type(remediation_type) as remediation_type_label,
    priority,
    created_by,
    created_on,
    due_on,
    overdue,
    status,
    case when has_progress then fixed_devices end as fixed_devices,
    case when has_progress then target_devices end as target_devices,
    completed_by,
    completed_on,
    device_groups,
    csv_ticket_status(
        has_task, task_id, task_status, task_create_error,
        request_cancelled_at is not null
    ) as ticket_status,
    related_component,
    requester_notes,
    csv_source(source) as source
from ({filtered_activities});
