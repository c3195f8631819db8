-- ectowatch 0.4.0 -> 0.5.0: no silent loss (issue 14).
-- Triggers of earlier layouts keep working unchanged.
\echo Use "ALTER EXTENSION ectowatch UPDATE TO '0.5.0'" to load this file. \quit

-- == Watch API: collision-free trigger names, one owner per label, reserved channels

-- == Relay: every listed database served or refused, no relayed row before the slot
