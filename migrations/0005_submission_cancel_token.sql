-- Cancel tokens: whoever creates a submission over HTTP receives a random token once, and
-- only that token (or the administrator's) can cancel it. Never edit this file once merged;
-- add a new migration instead.
--
-- cancel_token_sha256: 64 hexadecimal digits, the SHA-256 of the token (the token itself is
-- never stored); NULL for jobs queued from the command line or before this migration, which
-- only an administrator can cancel over HTTP.
ALTER TABLE jobs ADD COLUMN cancel_token_sha256 TEXT;
