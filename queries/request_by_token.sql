-- The request a submitted form already filed, if any.
select q.activity_id, a.target_devices
from requests q
join activities a using (activity_id)
where q.form_token = $form_token;
