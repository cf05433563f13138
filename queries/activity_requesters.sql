-- The people who requested remediation activities, each once (emails compared
-- without regard to case, shown in lower case), alphabetically.
select distinct lower(requester_email) as created_by
from activities
where requester_email is not null and trim(requester_email) <> ''
order by created_by;
