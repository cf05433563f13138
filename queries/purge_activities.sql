-- Remove purged activities and their device lists; group_daily_totals stay.
insert or replace into purged_activities
select activity_id, $now from purge_ids;

delete from exposure_intervals where activity_id in (select activity_id from purge_ids);

delete from group_snapshots where activity_id in (select activity_id from purge_ids);

delete from activity_progress where activity_id in (select activity_id from purge_ids);

delete from activity_devices where activity_id in (select activity_id from purge_ids);

delete from completions where activity_id in (select activity_id from purge_ids);

delete from activities where activity_id in (select activity_id from purge_ids);
