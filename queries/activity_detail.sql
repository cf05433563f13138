-- One activity: every stored column (status as the list shows it, Defender's
-- own in defender_status), the completion made here kept apart, and the related
-- security recommendation (linked by the sync, see link_recommendations.sql, or
-- chosen when the request was filed here).
with related as (
    select a.activity_id, r.recommendation_id, r.name as recommendation_name
    from activities a
    join recommendations r using (recommendation_id)
    where a.activity_id = $activity_id
)
select
    a.* replace (v.status as status),
    a.status as defender_status,
    v.overdue,
    v.has_progress,
    v.progress,
    v.exposed_devices,
    v.completed_by,
    v.completed_on,
    v.completed_here,
    v.has_task,
    v.task_id,
    v.task_status,
    v.task_assigned_to,
    v.task_create_error,
    v.request_cancelled_at,
    c.completed_by as local_completed_by,
    c.completed_at as local_completed_at,
    c.note as local_completion_note,
    rel.recommendation_id as related_recommendation_id,
    rel.recommendation_name as related_recommendation_name
from activities a
join activity_rows($today, null) v using (activity_id)
left join completions c using (activity_id)
left join related rel using (activity_id)
where a.activity_id = $activity_id;
