-- A user marks an activity complete here (Defender's own record is unchanged).
insert or replace into completions values ($activity_id, $completed_by, $completed_at, $note);
