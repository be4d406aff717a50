-- Envelopes reuse one flow per (org, provider, credential, scopes) instead of minting a row per call (docs/decisions.md).
-- The key is cleared when a person's callback consumes the flow, and when it completes or fails.
ALTER TABLE flows ADD COLUMN envelope_key TEXT;
CREATE UNIQUE INDEX ux_flows_envelope_key ON flows (envelope_key) WHERE envelope_key IS NOT NULL;
CREATE INDEX ix_flows_org_status ON flows (org_id, status);
