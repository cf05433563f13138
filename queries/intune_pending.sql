-- Queued Graph calls, creates first, then edits, then status changes.
select o.activity_id, o.operation, o.payload, o.attempts, o.not_before,
       o.claimed_at, o.in_doubt, t.task_id
from intune_outbox o
join intune_tasks t using (activity_id)
where ($activity_id is null or o.activity_id = $activity_id)
order by o.activity_id,
         case o.operation when 'create' then 0 when 'patch' then 1 else 2 end;
