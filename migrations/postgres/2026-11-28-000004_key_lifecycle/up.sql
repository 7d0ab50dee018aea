-- The key lifecycle: next → active → retired → removed, with the time of each transition.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check
    CHECK (state IN ('next', 'active', 'retired', 'removed'));
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN remove_after BIGINT;
ALTER TABLE signing_keys ADD COLUMN removed_at BIGINT;
-- At most one staged key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
-- Locked by whichever node runs the key schedule, so that exactly one performs a transition.
INSERT INTO revisions (name, value) VALUES ('key_schedule', 0);

ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT;
