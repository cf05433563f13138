-- Each Defender activity's security recommendation. Configuration activities
-- match by scid (recommendation ids "scid-2011" or "sca-_-scid-2011"), software
-- ones by product id ("va-_-vendor-_-product"). A link once found is kept when
-- the recommendation later leaves Defender's list.
update activities a
set recommendation_id = found.recommendation_id
from (
    select k.activity_id, min(r.recommendation_id) as recommendation_id
    from (
        select
            activity_id,
            case
                when lower(scid) like 'scid-%' then lower(scid)
                when scid is not null then 'scid-' || lower(scid)
            end as scid_key,
            'va-_-' || lower(product_id) as product_key,
            'va-_-' || lower(vendor_id) || '-_-' || lower(name_id) as name_key
        from activities
        where source = 'defender'
    ) k
    join recommendations r
      on lower(r.recommendation_id) in (
          k.scid_key, 'sca-_-' || k.scid_key, k.product_key, k.name_key
      )
    group by k.activity_id
) found
where a.activity_id = found.activity_id;
