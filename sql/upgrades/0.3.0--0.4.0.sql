-- ectowatch 0.3.0 -> 0.4.0: a DELETE watcher reads its statement's transition table
-- instead of firing once per row, where that sees every delete.
--
-- The triggers of a watcher are made by one function, ectowatch_attach_triggers(),
-- so that a later version that changes how triggers look replaces only it
-- (PostgreSQL needs a function's whole body to change it; ectowatch_watch's
-- body is made again here).
--
-- Existing DELETE watchers keep their row trigger, which stays correct, until
-- ectowatch_watch() runs for them again (the upgrade takes no lock on user
-- tables); ectowatch_watchers.fires shows which, and README.md gives the
-- statement that converts them all.


--@include views/ectowatch_watchers.sql
--@include functions/ectowatch_attach_triggers.sql
--@include functions/ectowatch_watch.sql
--@include functions/ectowatch_guard_inheritance.sql
--@include event_triggers/ectowatch_guard_inheritance.sql
