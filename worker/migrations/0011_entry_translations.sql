-- Each entry's words in other languages (issue #22: name, description, credential label and
-- hint, steps, per language), kept apart from the spec for the reason the fixtures are
-- (0009): a Worker one release older reads the spec and refuses fields it does not know.
-- Additive: NULL means English only.
ALTER TABLE integration_providers ADD COLUMN translations TEXT;
