// Renders one column value as JSON for a message row (docs/protocol.md,
// "Values"). The rendering never depends on the writing session's settings
// (TimeZone, DateStyle, IntervalStyle, bytea_output, extra_float_digits), so
// the same key always looks the same to a subscriber filtering on it.
#pragma once

#include "postgres_api.hpp"

namespace ectowatch {

enum class ValueKind {
  integer,     // int2, int4, int8: JSON number
  boolean,     // true / false
  json,        // json, jsonb: embedded as JSON
  timestamptz, // ISO 8601 in UTC: "2024-05-01T12:00:00.5+00:00"
  datetime,    // date, timestamp, time, timetz: ISO 8601
  interval,    // ISO 8601 duration: "P1DT2H"
  bytea,       // "\x0a0b" (hex)
  float4,      // shortest exact text, "NaN", "Infinity", "-Infinity"
  float8,
  text_output, // anything else: the type's output function, as a JSON string
};

struct ColumnEncoder {
  Oid type = InvalidOid; // the base type when the column has a domain
  ValueKind kind = ValueKind::text_output;
  FmgrInfo output; // only for text_output and json
};

// Chooses how values of `type` are rendered; output functions are looked up
// once here and kept in `context`.
void init_column_encoder(ColumnEncoder *encoder, Oid type, MemoryContext context);

// Appends the JSON rendering of one value (`null` for SQL NULL).
void append_json_value(StringInfo out, const ColumnEncoder *encoder, Datum value, bool isnull);

} // namespace ectowatch
