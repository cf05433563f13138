-- Active activities for a recommendation that cover any of the chosen device
-- groups (Defender names an activity's groups; ids are turned into names).
select a.activity_id, a.title, a.device_groups
from activities a
left join completions c using (activity_id)
where a.recommendation_id = $recommendation_id
  and a.status = 'Active'
  and c.activity_id is null
  and list_has_any(
      a.device_groups,
      (
          select list(coalesce(
              g.group_name,
              case when s.group_id = 0 then 'Unassigned' else 'Group ' || s.group_id end
          ))
          from (select unnest(cast($group_ids as integer[])) as group_id) s
          left join device_groups g using (group_id)
      )
  )
order by a.created_on, a.activity_id;
