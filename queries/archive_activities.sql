-- The activities about to be purged, every column, for the archive.
select a.*, c.completed_by as completed_here_by, c.completed_at as completed_here_at
from activities a
join purge_ids using (activity_id)
left join completions c using (activity_id)
order by a.activity_id;
