DROP INDEX registration_tokens_id;
ALTER TABLE registration_tokens DROP COLUMN id;
