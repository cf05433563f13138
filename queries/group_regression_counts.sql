-- Per device group of $groups (null: all): devices exposed again after a fix
-- in [$start, $end), and how many of them are still exposed at $now.
select
    g.group_id,
    g.group_name,
    count(x.machine_id) as regressions,
    count(x.machine_id) filter (where x.exposed_to is null or x.exposed_to > $now)
        as still_exposed
from chosen_groups($groups) g
left join exposures($today) x
  on x.group_id = g.group_id
 and x.regressed
 and x.exposed_from >= $start
 and x.exposed_from < $end
group by g.group_id, g.group_name
order by g.group_id = 0, lower(g.group_name), g.group_id;
