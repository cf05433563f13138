-- Tasks IT may still answer: created, and not completed, rejected or deleted.
select activity_id, task_id
from intune_tasks
where task_id is not null
  and coalesce(status, 'pending') not in ('completed', 'rejected', 'deleted')
order by activity_id;
