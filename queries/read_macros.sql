-- Macros the dashboard's reads share, defined on each read connection (temp:
-- they vanish when it closes). One definition of the domain rules that every
-- list, card and chart applies the same way.

-- A device group's display name: from device_groups when known, else
-- "Unassigned" for id 0 and "Group <id>" for a group no machine names.
create or replace temp macro group_label(group_id, group_name) as
    coalesce(
        group_name,
        case when group_id = 0 then 'Unassigned' else 'Group ' || group_id end
    );

-- High, Medium, Low, then anything Defender adds later.
create or replace temp macro priority_rank(priority) as
    case priority when 'High' then 1 when 'Medium' then 2 when 'Low' then 3 else 4 end;

-- Remediation activities with the derived columns pages show, limited to the
-- device groups with ids in `groups` (null: all; empty: none). Defender names an
-- activity's device groups but gives no ids, so ids are turned into names and an
-- activity belongs to the selection when it covers any of them.
--   status: "Completed" once a user marked it complete here, else Defender's.
--   overdue: active, not attention-required, due date before `today` (UTC).
--   has_progress: false for attention-required activities (nothing to monitor).
--   completed_by: the user who marked it here, else Defender's three forms.
--   source: 'defender' (synced) or 'dashboard' (a request filed here); status
--   'Cancelled' is a request its requester cancelled here.
create or replace temp macro activity_rows(today, groups) as table
with selected as (
    select list(group_label(s.group_id, g.group_name)) as names
    from (select unnest(cast(groups as integer[])) as group_id) s
    left join device_groups g on g.group_id = s.group_id
),
rows as (
    select
        a.*,
        c.activity_id is not null as completed_here,
        coalesce(a.remediation_type, '') <> 'AttentionRequired' as has_progress,
        case when c.activity_id is not null then 'Completed' else a.status end
            as effective_status,
        c.completed_by as local_completed_by,
        c.completed_at as local_completed_at,
        t.activity_id is not null as has_task,
        t.task_id,
        t.status as task_status,
        t.assigned_to as task_assigned_to,
        o.last_error as task_create_error,
        q.cancelled_at as request_cancelled_at
    from activities a
    left join completions c using (activity_id)
    left join intune_tasks t using (activity_id)
    left join intune_outbox o
      on o.activity_id = a.activity_id and o.operation = 'create'
    left join requests q using (activity_id)
    cross join selected
    where groups is null
       or coalesce(list_has_any(a.device_groups, selected.names), false)
)
select
    activity_id,
    title,
    remediation_type,
    priority,
    requester_email as created_by,
    created_on,
    due_on,
    coalesce(
        effective_status = 'Active' and has_progress and due_on < cast(today as date),
        false
    ) as overdue,
    effective_status as status,
    status as defender_status,
    has_progress,
    fixed_devices,
    target_devices,
    target_devices - fixed_devices as exposed_devices,
    case
        when has_progress and target_devices > 0
        then least(greatest(coalesce(fixed_devices, 0) / target_devices, 0.0), 1.0)
    end as progress,
    case
        when completed_here then local_completed_by
        when status is distinct from 'Completed' then null
        when completer_email is not null then completer_email
        when completion_method = 'Automatic' then 'System confirmation'
        else 'N/A'
    end as completed_by,
    case
        when completed_here then local_completed_at
        when status = 'Completed' then status_changed_on
    end as completed_on,
    completed_here,
    device_groups,
    related_component,
    requester_notes,
    missing_since,
    coalesce(source, 'defender') as source,
    target_scope,
    recommendation_gone_since,
    -- The Intune security task, when one was asked for (the pages word its
    -- status through `labels.ticket_status`).
    has_task,
    task_id,
    task_status,
    task_assigned_to,
    task_create_error,
    request_cancelled_at
from rows;

-- Each tracked activity's devices in the device groups with ids in `groups`,
-- from its latest snapshot (our own tracking, so fixed counts start when the
-- tracking began): fixed ones, and targeted ones (still exposed + fixed).
-- Activities never tracked have no row; a tracked one with no device in those
-- groups has 0 of 0.
-- Known cost: group_snapshots gains a row per activity and group at every
-- sync and keeps them until the activity is purged, so this scan grows with
-- the history kept; the benchmarks measure a history of three syncs only.
create or replace temp macro group_scoped_progress(groups) as table
with latest as (
    select activity_id, max(run_id) as run_id
    from group_snapshots
    group by activity_id
)
select
    s.activity_id,
    cast(coalesce(sum(s.fixed_devices) filter (where chosen), 0) as integer)
        as fixed_devices,
    cast(coalesce(
        sum(s.exposed_devices + s.fixed_devices) filter (where chosen), 0
    ) as integer) as target_devices
from (
    select
        g.*,
        coalesce(list_contains(cast(groups as integer[]), g.group_id), false)
            as chosen
    from group_snapshots g
) s
join latest l using (activity_id, run_id)
group by s.activity_id;
