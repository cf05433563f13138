-- Who filed the request behind an activity.
select requested_by from requests where activity_id = $activity_id;
