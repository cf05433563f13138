-- Devices fixed and then exposed again for the same activity, in the device
-- groups of $groups (null: all), exposed again in [$start, $end): newest
-- first. status: still exposed, fixed again, or no longer reported / moved.
select
    x.group_id,
    g.group_name,
    x.activity_id,
    a.title,
    x.machine_id,
    m.computer_dns_name,
    x.fixed_before as fixed_on,
    x.exposed_from as exposed_again_on,
    case
        when x.exposed_to is null or x.exposed_to > $now then 'Exposed'
        when x.end_reason = 'fixed' then 'Fixed again'
        when x.end_reason = 'moved' then 'Moved'
        else 'No longer reported'
    end as status
from exposures($today) x
join chosen_groups($groups) g using (group_id)
join progress_activities($today) a using (activity_id)
left join machines m using (machine_id)
where x.regressed and x.exposed_from >= $start and x.exposed_from < $end
order by x.exposed_from desc, g.group_name, m.computer_dns_name, x.machine_id,
    x.activity_id;
