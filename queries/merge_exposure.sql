-- History of exposure for the activities whose device lists this run fetched.
-- A device still exposed but now in another device group ends its interval as
-- "moved" and starts a new one in its new group (below), so per-group figures
-- follow the device. A device that left the list is "fixed" only while Defender
-- still reports it (onboarded, seen in the last 30 days, not excluded, not
-- merged); otherwise it is "no_longer_reported".
update exposure_intervals e
set exposed_to = $now, end_reason = 'moved'
from activity_devices d
join s_fetched f
  on f.kind = 'activity_devices' and f.status = 'ok' and f.id = d.activity_id
where e.exposed_to is null
  and e.activity_id = d.activity_id
  and e.machine_id = d.machine_id
  and e.group_id is distinct from d.group_id;

update exposure_intervals e
set exposed_to = $now,
    end_reason = case
        when m.machine_id is not null
             and coalesce(m.onboarding_status, 'Onboarded') = 'Onboarded'
             and coalesce(m.last_seen, $now) >= $now - interval 30 days
             and not coalesce(m.is_excluded, false)
             and m.merged_into is null
        then 'fixed'
        else 'no_longer_reported'
    end
from (
    select o.activity_id, o.machine_id, o.exposed_from
    from exposure_intervals o
    join s_fetched f
      on f.kind = 'activity_devices' and f.status = 'ok' and f.id = o.activity_id
    where o.exposed_to is null
      and not exists (
          select 1 from activity_devices d
          where d.activity_id = o.activity_id and d.machine_id = o.machine_id
      )
) gone
left join machines m on m.machine_id = gone.machine_id
where e.activity_id = gone.activity_id
  and e.machine_id = gone.machine_id
  and e.exposed_from = gone.exposed_from;

insert into exposure_intervals
    (activity_id, machine_id, group_id, exposed_from, exposed_to, end_reason)
select d.activity_id, d.machine_id, d.group_id, $now, null, null
from activity_devices d
join s_fetched f
  on f.kind = 'activity_devices' and f.status = 'ok' and f.id = d.activity_id
where not exists (
    select 1 from exposure_intervals o
    where o.activity_id = d.activity_id
      and o.machine_id = d.machine_id
      and o.exposed_to is null
)
order by d.activity_id, d.machine_id;
