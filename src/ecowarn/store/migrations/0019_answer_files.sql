-- Files an enterprise attaches to its answer (stored in attachments, checked like a
-- rectification's); the answer keeps what refers to each: {id, filename, content_type, size,
-- sha256}. attachments stays the list of references (document ids, URLs).
ALTER TABLE alert_answers ADD COLUMN files jsonb NOT NULL DEFAULT '[]'::jsonb;
