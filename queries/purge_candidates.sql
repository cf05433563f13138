-- Completed activities whose retention period has passed, counted from their
-- completion (here, or Defender's status change when the completer is unknown).
select a.activity_id
from activities a
left join completions c using (activity_id)
where (a.status = 'Completed' or c.activity_id is not null)
  and coalesce(c.completed_at, a.status_changed_on) < $cutoff
order by a.activity_id;
