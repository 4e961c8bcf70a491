"""The database's lock on signed notes and addenda (migration ``plans.0005``).

PostgreSQL: row triggers refuse UPDATE and DELETE of a note whose stored status is ``signed``
(the UPDATE that signs a draft still passes: the row's old status is ``draft``) and of any
addendum. SQLite: the same as ``BEFORE`` triggers. TRUNCATE (PostgreSQL's ``flush``) is not a
row operation; SQLite's ``flush`` lifts these triggers for the wipe, like the audit log's.
"""

PG_FORWARD = """
CREATE OR REPLACE FUNCTION plans_visitnote_signed_locked() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'plans_visitnote %: a signed note never changes (% refused)', OLD.id, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER plans_visitnote_signed_locked
    BEFORE UPDATE OR DELETE ON plans_visitnote
    FOR EACH ROW EXECUTE FUNCTION plans_visitnote_signed_locked();
CREATE OR REPLACE FUNCTION plans_noteaddendum_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'plans_noteaddendum is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER plans_noteaddendum_append_only
    BEFORE UPDATE OR DELETE ON plans_noteaddendum
    FOR EACH ROW EXECUTE FUNCTION plans_noteaddendum_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS plans_visitnote_signed_locked ON plans_visitnote;
DROP FUNCTION IF EXISTS plans_visitnote_signed_locked();
DROP TRIGGER IF EXISTS plans_noteaddendum_append_only ON plans_noteaddendum;
DROP FUNCTION IF EXISTS plans_noteaddendum_append_only();
"""
SQLITE_GUARD_SQL = [
    "CREATE TRIGGER IF NOT EXISTS plans_visitnote_no_update BEFORE UPDATE ON plans_visitnote "
    "WHEN OLD.status = 'signed' "
    "BEGIN SELECT RAISE(ABORT, 'a signed note never changes'); END;",
    "CREATE TRIGGER IF NOT EXISTS plans_visitnote_no_delete BEFORE DELETE ON plans_visitnote "
    "WHEN OLD.status = 'signed' "
    "BEGIN SELECT RAISE(ABORT, 'a signed note never changes'); END;",
    "CREATE TRIGGER IF NOT EXISTS plans_noteaddendum_no_update BEFORE UPDATE "
    "ON plans_noteaddendum BEGIN SELECT RAISE(ABORT, 'plans_noteaddendum is append-only'); END;",
    "CREATE TRIGGER IF NOT EXISTS plans_noteaddendum_no_delete BEFORE DELETE "
    "ON plans_noteaddendum BEGIN SELECT RAISE(ABORT, 'plans_noteaddendum is append-only'); END;",
]
SQLITE_UNGUARD_SQL = [
    "DROP TRIGGER IF EXISTS plans_visitnote_no_update;",
    "DROP TRIGGER IF EXISTS plans_visitnote_no_delete;",
    "DROP TRIGGER IF EXISTS plans_noteaddendum_no_update;",
    "DROP TRIGGER IF EXISTS plans_noteaddendum_no_delete;",
]
