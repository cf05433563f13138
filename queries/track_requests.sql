-- Activities filed from this dashboard that are still active: their exposed
-- devices are the target devices still on their recommendation's exposed-device
-- list. They join this run's fetched device lists, so `merge_exposure` ends the
-- intervals of devices that left (fixed, or no longer reported) and opens new
-- ones for devices exposed again, exactly as for Defender's activities.
create or replace temp table s_tracked as
select a.activity_id, a.recommendation_id, a.remediation_type
from activities a
join requests q using (activity_id)
left join completions c using (activity_id)
where a.source = 'dashboard'
  and a.status = 'Active'
  and q.cancelled_at is null
  and c.activity_id is null;

-- A recommendation missing from Defender's (successful) list has no exposed
-- devices left: flag the activity; `finish_requests` counts its devices fixed.
update activities
set recommendation_gone_since = case
    when recommendation_id in (select recommendation_id from recommendations)
    then null
    else coalesce(recommendation_gone_since, $now)
end
where activity_id in (select activity_id from s_tracked);

delete from activity_devices
where activity_id in (select activity_id from s_tracked);

insert into activity_devices
select t.activity_id, t.machine_id,
       coalesce(d.computer_dns_name, t.computer_dns_name),
       coalesce(d.os_platform, t.os_platform),
       d.group_id, d.group_name
from s_tracked s
join request_targets t using (activity_id)
join recommendation_devices d
  on d.recommendation_id = s.recommendation_id and d.machine_id = t.machine_id;

insert into s_fetched
select 'activity_devices', activity_id, 'ok' from s_tracked;
