-- One activity's Intune task, with what is still queued for it.
select t.*,
       (select list(o.operation order by o.operation) from intune_outbox o
        where o.activity_id = t.activity_id) as queued,
       (select o.last_error from intune_outbox o
        where o.activity_id = t.activity_id and o.operation = 'create')
           as create_error,
       (select max(o.not_before) from intune_outbox o
        where o.activity_id = t.activity_id) as not_before,
       q.cancelled_at
from intune_tasks t
left join requests q using (activity_id)
where t.activity_id = $activity_id;
