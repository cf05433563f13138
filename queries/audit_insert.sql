insert into audit_log (logged_at, actor, action, object_id, before, after)
values ($logged_at, $actor, $action, $object_id, $before, $after);
