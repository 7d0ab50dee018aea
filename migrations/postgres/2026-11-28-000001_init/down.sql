DROP TABLE session_entries;
DROP TABLE server_secrets;
DROP TABLE signing_keys;
DROP TABLE clients;
DROP TABLE revisions;
