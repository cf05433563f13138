select count(*) > 0 from activities where activity_id = $activity_id;
