-- The activities whose intervals this run opened, ended or changed (every
-- device list fetched, our own tracked activities included), for
-- `link_exposure`.
create or replace temp table exposure_to_link as
select distinct id as activity_id
from s_fetched
where kind = 'activity_devices' and status = 'ok';
