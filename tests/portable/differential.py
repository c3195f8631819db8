# Writes the statements both editions run in tests/portable_test.sh (part 1),
# from a seed: tables of every value type the message format names, watchers
# of every shape, and single-statement transactions (the native edition packs
# per transaction, the portable one per statement: equal for one statement).
# Multi-row statements only on tables whose watchers fire per statement in the
# portable edition; its row triggers send one message a row.
import random, sys

rnd = random.Random(int(sys.argv[1]))
out = []
emit = out.append

def text_value(size):
    alphabet = 'abcxyz "\\/\u00e9\u20ac\t\n\x01{}[]:,'
    return "".join(rnd.choice(alphabet) for _ in range(size))

def lit(s):
    return "E'" + s.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n").replace("\t", "\\t").replace("\x01", "\\x01") + "'"

emit("""
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE v (id bigint PRIMARY KEY, i2 int2, i4 int4, b bool, n numeric, f4 float4, f8 float8, t text,
                ts timestamptz, tsn timestamp, d date, tm time, tmz timetz, iv interval, by bytea, j json, jb jsonb,
                u uuid, ip inet, ch char(5), arr int[], tarr text[], e mood, dom positive, p pair, vc varchar(10));
CREATE TABLE ck (region text, num int, note text, PRIMARY KEY (region, num));
CREATE TABLE parted (id int, kind text, note text, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
CREATE TABLE parted_a PARTITION OF parted FOR VALUES IN ('a');
CREATE TABLE parted_b PARTITION OF parted FOR VALUES IN ('b');
CREATE TABLE "Odd ""T" ("Key col" int PRIMARY KEY, "x.y" text);
SELECT ectowatch_watch('v', 'inserted', extra_columns => ARRAY['i2','i4','b','n','f4','f8','t','ts','tsn','d','tm','tmz','iv','by','j','jb','u','ip','ch','arr','tarr','e','dom','p','vc']);
SELECT ectowatch_watch('v', 'updated', extra_columns => ARRAY['t', 'n']);
SELECT ectowatch_watch('v', 'deleted', extra_columns => ARRAY['t']);
SELECT ectowatch_watch('ck', 'inserted', extra_columns => ARRAY['note']);
SELECT ectowatch_watch('ck', 'updated', trigger_columns => ARRAY['note'], extra_columns => ARRAY['note']);
SELECT ectowatch_watch('ck', 'deleted', label => 'ck_gone', condition => 'OLD.num % 2 = 0');
SELECT ectowatch_watch('parted', 'inserted', extra_columns => ARRAY['note']);
SELECT ectowatch_watch('parted', 'deleted');
SELECT ectowatch_watch('"Odd ""T"', 'inserted', label => 'odd', extra_columns => ARRAY['x.y']);
SELECT ectowatch_watch('v', 'inserted', label => 'v_big', key_columns => ARRAY['t'], extra_columns => ARRAY['id']);
LISTEN v_inserted; LISTEN v_updated; LISTEN v_deleted; LISTEN ck_inserted; LISTEN ck_updated; LISTEN ck_gone;
LISTEN parted_inserted; LISTEN parted_deleted; LISTEN odd; LISTEN v_big;
SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard';
SET bytea_output = 'escape'; SET extra_float_digits = 0;
""")

def value_row(i):
    def maybe(v):
        return "NULL" if rnd.random() < 0.15 else v
    size = rnd.choice([0, 5, rnd.randint(0, 300), rnd.randint(300, 9000)])
    ts = f"'{rnd.randint(1, 9999):04d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999999):06d}+0{rnd.randint(0, 9)}'"
    vals = [
        str(i),
        maybe(str(rnd.randint(-32768, 32767))),
        maybe(str(rnd.randint(-2**31, 2**31 - 1))),
        maybe(rnd.choice(["true", "false"])),
        maybe(rnd.choice(["1.50", "-0.000001", "123456789012345678901234567890.123", "'NaN'", "0"])),
        maybe(rnd.choice(["0.1", "'NaN'", "'Infinity'", "-3.4e38", "1e-40"])),
        maybe(rnd.choice(["0.1", "'-Infinity'", "1e-300", "123.456", str(rnd.random())])),
        maybe(lit(text_value(size))),
        maybe(rnd.choice([ts, "'infinity'", "'-infinity'", "'0044-03-15 12:00:00+00 BC'"])),
        maybe(rnd.choice(["'2024-02-29 23:59:59.999999'", "'infinity'", "'1999-01-08 04:05:06'"])),
        maybe(rnd.choice(["'2024-02-29'", "'-infinity'", "'0001-01-01 BC'"])),
        maybe(rnd.choice(["'23:59:59.999999'", "'00:00'"])),
        maybe(rnd.choice(["'10:20:30+05:30'", "'01:02:03-08'"])),
        maybe(rnd.choice(["'1 year 2 months 3 days 04:05:06.5'", "'-1 day +02:00'", "'0'", "'-7 months'"])),
        maybe(rnd.choice(["'\\x00ff0a'", "''", "'\\xdeadbeef'"])),
        maybe(rnd.choice(["'{\"a\" : [1, 2.50, null]}'", "'1e400'", "'\"s\"'"])),
        maybe(rnd.choice(["'{\"a\" : [1, 2.50, null]}'", "'[]'", "'{\"k\": {\"z\": 1, \"a\": 2}}'"])),
        maybe("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
        maybe(rnd.choice(["'192.168.0.1/32'", "'10.0.0.0/8'", "'::1'"])),
        maybe(rnd.choice(["'ab'", "'abcde'", "''"])),
        maybe(rnd.choice(["'{1,2,NULL}'", "'{}'"])),
        maybe(rnd.choice(["'{\"a b\",\"c,d\",NULL}'", "'{x}'"])),
        maybe(rnd.choice(["'sad'", "'happy'"])),
        maybe(str(rnd.randint(1, 100))),
        maybe(rnd.choice(["ROW(1, 'x')", "ROW(NULL, NULL)", "ROW(2, 'a\"b')"])),
        maybe(rnd.choice(["'short'", "'x y'"])),
    ]
    return "(" + ", ".join(vals) + ")"

next_id = 1
for step in range(int(sys.argv[2])):
    kind = rnd.random()
    if kind < 0.35:
        n = rnd.choice([1, 1, 2, 5, 30])
        emit("INSERT INTO v VALUES " + ", ".join(value_row(next_id + k) for k in range(n)) + ";")
        next_id += n
    elif kind < 0.45:
        emit(f"UPDATE v SET t = {lit(text_value(rnd.randint(0, 4000)))}, n = n + 1 WHERE id % {rnd.randint(2, 9)} = {rnd.randint(0, 1)};")
    elif kind < 0.47:
        emit(f"DELETE FROM v WHERE id % {rnd.randint(3, 11)} = 0;")
    elif kind < 0.5:  # an upsert: inserted rows and updated ones, from one statement
        ids = [rnd.randint(1, next_id) for _ in range(rnd.randint(1, 6))]
        emit("INSERT INTO v (id, t) VALUES " + ", ".join(f"({i}, {lit(text_value(rnd.randint(0, 40)))})" for i in sorted(set(ids)))
             + " ON CONFLICT (id) DO UPDATE SET t = EXCLUDED.t;")
        next_id = max(next_id, max(ids) + 1)
    elif kind < 0.6:
        r = rnd.choice(["eu", "us", "a.b", "Zürich"])
        emit(f"INSERT INTO ck VALUES ({lit(r)}, {rnd.randint(1, 40)}, {lit(text_value(rnd.randint(0, 50)))}) ON CONFLICT (region, num) DO UPDATE SET note = EXCLUDED.note;")
    elif kind < 0.65:
        if rnd.random() < 0.5:
            emit(f"UPDATE ck SET note = note WHERE num = {rnd.randint(1, 40)};")  # no real change: nothing
        else:  # one row, a real change of a trigger column
            emit(f"UPDATE ck SET note = note || 'x' WHERE (region, num) = (SELECT region, num FROM ck ORDER BY num DESC, region LIMIT 1);")
    elif kind < 0.7:
        emit(f"DELETE FROM ck WHERE (region, num) = (SELECT region, num FROM ck ORDER BY num, region LIMIT 1);")
    elif kind < 0.8:
        k = rnd.choice(["a", "b"])
        target = rnd.choice(["parted", f"parted_{k}"])  # also straight into a partition
        emit(f"INSERT INTO {target} VALUES ({rnd.randint(1, 10**6)}, '{k}', {lit(text_value(rnd.randint(0, 100)))}) ON CONFLICT DO NOTHING;")
    elif kind < 0.83:
        emit(f"DELETE FROM parted WHERE (id, kind) = (SELECT id, kind FROM parted ORDER BY id, kind LIMIT 1);")
    elif kind < 0.86:
        emit(f"INSERT INTO \"Odd \"\"T\" VALUES ({next_id}, {lit(text_value(rnd.randint(0, 20)))});")
        next_id += 1
    elif kind < 0.88:
        emit(rnd.choice(["TRUNCATE v;", "TRUNCATE ck;", "TRUNCATE parted;"]))
    elif kind < 0.9:
        emit("BEGIN; INSERT INTO v (id, t) VALUES (" + str(next_id) + ", 'rolled back'); ROLLBACK;")
        next_id += 1
    else:
        emit(f"BEGIN; SET LOCAL ectowatch.enabled = off; INSERT INTO v (id, t) VALUES ({next_id}, 'suppressed'); COMMIT;")
        next_id += 1
print("\n".join(out))
