ALTER TABLE intercept_logs DROP COLUMN request_id;
