-- The X-Request-Id of the refused request, so an intercept can be matched
-- with the proxy's and the gateway's log lines about it.
ALTER TABLE intercept_logs ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
