-- Version 4: the two largest tables lose their primary keys, and each exposure
-- interval knows its neighbours for the same activity and device.
--
-- A tenant of 200,000 devices has millions of exposed-device rows. DuckDB keeps
-- a primary key's index wholly in memory (about 600 MB for 5.8 million rows of
-- `activity_devices`) and maintains it row by row, which made the merge slow
-- and its memory unbounded. Both tables stay unique by construction: the merge
-- deletes an activity's devices before inserting its fetched list once per
-- device, and opens an interval only for a device without an open one. Rows
-- are written in activity order, so DuckDB's per-block minimum and maximum let
-- a read of one activity skip the blocks of the others.
--
-- The links let history reads filter instead of ranking millions of rows:
--   regressed      the interval began after the device's previous interval
--                  for the activity ended as fixed (a fixed device exposed
--                  again);
--   fixed_before   when that fix was seen (null unless regressed);
--   superseded_at  when the device's next interval for the activity began
--                  (null for the latest one).
-- `link_exposure` keeps them; this version fills them for every interval.

create table activity_devices_v4 (
    activity_id varchar not null,
    machine_id varchar not null,
    computer_dns_name varchar,
    os_platform varchar,
    group_id integer,
    group_name varchar
);
insert into activity_devices_v4
select activity_id, machine_id, computer_dns_name, os_platform, group_id, group_name
from activity_devices
order by activity_id, machine_id;
drop table activity_devices;
alter table activity_devices_v4 rename to activity_devices;

-- History: when each device was exposed for each activity. A device fixed and
-- exposed again gets a second interval. end_reason: fixed, no_longer_reported
-- or moved (exposed on in another device group).
create table exposure_intervals_v4 (
    activity_id varchar not null,
    machine_id varchar not null,
    group_id integer,
    exposed_from timestamptz not null,
    exposed_to timestamptz,
    end_reason varchar,
    regressed boolean not null default false,
    fixed_before timestamptz,
    superseded_at timestamptz
);
insert into exposure_intervals_v4
    (activity_id, machine_id, group_id, exposed_from, exposed_to, end_reason)
select activity_id, machine_id, group_id, exposed_from, exposed_to, end_reason
from exposure_intervals
order by activity_id, machine_id, exposed_from;
drop table exposure_intervals;
alter table exposure_intervals_v4 rename to exposure_intervals;
