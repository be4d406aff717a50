-- Per-connection URL parameters (issue 15: a Zendesk subdomain, a Shopify shop): a JSON object of validated strings, the
-- values a templated provider's URLs are bound to. Null for every provider without connection parameters.
ALTER TABLE connections ADD COLUMN parameters TEXT;

-- A flow carries them from the connect request to the callback (the authorization URL, the code exchange, the identity).
ALTER TABLE flows ADD COLUMN parameters TEXT;
