-- Security recommendations as the Security recommendations page lists them.
-- exposed_devices: Defender's own count when $groups is null; otherwise the
-- devices of the stored exposed-device list within the device groups with ids
-- in $groups, and a recommendation with none there is left out (an empty list
-- leaves everything out). covered: an active remediation activity (Active and
-- not marked complete here) names this recommendation. Each other filter left
-- null lets everything through; $search is matched literally (no wildcards)
-- and case-insensitively on name, product and vendor.
with in_groups as (
    select recommendation_id, count(*) as devices
    from recommendation_devices
    where list_contains(cast($groups as integer[]), group_id)
    group by recommendation_id
),
covering as (
    select a.recommendation_id, count(*) as activities
    from activities a
    left join completions c using (activity_id)
    where a.recommendation_id is not null
      and a.status = 'Active'
      and c.activity_id is null
    group by a.recommendation_id
),
rows as (
    select
        r.*,
        case
            when $groups is null then coalesce(r.exposed_devices, 0)
            else coalesce(g.devices, 0)
        end as exposed_in_groups,
        coalesce(cv.activities, 0) as covering_activities
    from recommendations r
    left join in_groups g using (recommendation_id)
    left join covering cv using (recommendation_id)
    where $groups is null or g.devices > 0
)
select
    recommendation_id,
    name,
    product_name,
    vendor,
    category,
    remediation_type,
    exposed_in_groups as exposed_devices,
    severity_score,
    coalesce(public_exploit, false) as public_exploit,
    coalesce(active_alert, false) as active_alert,
    status,
    covering_activities > 0 as covered,
    covering_activities
from rows
where ($search is null
       or contains(lower(coalesce(name, '')), lower($search))
       or contains(lower(coalesce(product_name, '')), lower($search))
       or contains(lower(coalesce(vendor, '')), lower($search)))
  and ($categories is null
       or list_contains(cast($categories as varchar[]), category))
  and ($types is null or list_contains(cast($types as varchar[]), remediation_type))
  and ($statuses is null or list_contains(cast($statuses as varchar[]), status))
  and ($public_exploit is null
       or coalesce(public_exploit, false) = $public_exploit)
  and ($active_alert is null or coalesce(active_alert, false) = $active_alert)
  and ($covered is null or (covering_activities > 0) = $covered)
order by
    case when $sort = 'severity_score' then severity_score end desc nulls last,
    exposed_in_groups desc,
    severity_score desc nulls last,
    lower(name),
    recommendation_id;
