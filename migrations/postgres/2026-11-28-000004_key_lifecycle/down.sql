ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
DELETE FROM revisions WHERE name = 'key_schedule';
DROP INDEX signing_keys_one_next;
DELETE FROM signing_keys WHERE state = 'removed';
ALTER TABLE signing_keys DROP COLUMN removed_at;
ALTER TABLE signing_keys DROP COLUMN remove_after;
ALTER TABLE signing_keys DROP COLUMN activates_at;
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check
    CHECK (state IN ('next', 'active', 'retired'));
