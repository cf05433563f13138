-- One security recommendation, with how many active remediation activities
-- (Active and not marked complete here) name it.
select
    r.*,
    (
        select count(*)
        from activities a
        left join completions c using (activity_id)
        where a.recommendation_id = r.recommendation_id
          and a.status = 'Active'
          and c.activity_id is null
    ) as covering_activities
from recommendations r
where r.recommendation_id = $recommendation_id;
