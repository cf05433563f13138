-- How many activities there are per status and priority.
select status, priority, count(*) as activities
from activity_rows($today, $groups)
group by status, priority
order by status, priority_rank(priority), priority;
