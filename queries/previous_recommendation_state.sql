select recommendation_id, status, exposed_devices from recommendations;
