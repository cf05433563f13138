-- One activity: every stored column (status as the list shows it, Defender's
-- own in defender_status), the completion made here kept apart, and the related
-- security recommendation. Configuration activities match by scid (recommendation
-- ids "scid-2011" or "sca-_-scid-2011"), software ones by product id
-- ("va-_-vendor-_-product").
with keys as (
    select
        activity_id,
        case
            when lower(scid) like 'scid-%' then lower(scid)
            when scid is not null then 'scid-' || lower(scid)
        end as scid_key,
        'va-_-' || lower(product_id) as product_key,
        'va-_-' || lower(vendor_id) || '-_-' || lower(name_id) as name_key
    from activities
    where activity_id = $activity_id
),
related as (
    select
        k.activity_id,
        arg_min(r.recommendation_id, r.recommendation_id) as recommendation_id,
        arg_min(r.name, r.recommendation_id) as recommendation_name
    from keys k
    join recommendations r
      on lower(r.recommendation_id) in (
          k.scid_key, 'sca-_-' || k.scid_key, k.product_key, k.name_key
      )
    group by k.activity_id
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
