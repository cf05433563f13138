-- What the last sync saw of each activity, to find the ones that changed.
select activity_id, status, fixed_devices, target_devices,
       cast(status_changed_on as varchar) as status_changed_on
from activities;
