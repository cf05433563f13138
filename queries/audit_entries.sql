-- The newest audit entries first.
select entry_id, logged_at, actor, action, object_id, before, after
from audit_log
order by logged_at desc, entry_id desc
limit $limit;
