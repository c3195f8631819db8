#include "value_encoder.hpp"

#include <cmath>

namespace ectowatch {

namespace {

ValueKind kind_of(Oid type) {
  switch (type) {
  case INT2OID:
  case INT4OID:
  case INT8OID:
    return ValueKind::integer;
  case BOOLOID:
    return ValueKind::boolean;
  case JSONOID:
  case JSONBOID:
    return ValueKind::json;
  case TIMESTAMPTZOID:
    return ValueKind::timestamptz;
  case DATEOID:
  case TIMESTAMPOID:
  case TIMEOID:
  case TIMETZOID:
    return ValueKind::datetime;
  case INTERVALOID:
    return ValueKind::interval;
  case BYTEAOID:
    return ValueKind::bytea;
  case FLOAT4OID:
    return ValueKind::float4;
  case FLOAT8OID:
    return ValueKind::float8;
  default:
    return ValueKind::text_output;
  }
}

void append_json_string(StringInfo out, const char *text) { escape_json(out, text); }

void append_float(StringInfo out, double value, bool single_precision) {
  char buffer[64];
  if (std::isnan(value))
    strlcpy(buffer, "NaN", sizeof buffer);
  else if (std::isinf(value))
    strlcpy(buffer, value > 0 ? "Infinity" : "-Infinity", sizeof buffer);
  else if (single_precision)
    float_to_shortest_decimal_buf(static_cast<float>(value), buffer);
  else
    double_to_shortest_decimal_buf(value, buffer);
  appendStringInfoChar(out, '"');
  appendStringInfoString(out, buffer);
  appendStringInfoChar(out, '"');
}

void append_bytea(StringInfo out, Datum value) {
  bytea *bytes = DatumGetByteaPP(value);
  size_t length = VARSIZE_ANY_EXHDR(bytes);
  // "\x" followed by two hex digits per byte; in JSON the backslash doubles.
  enlargeStringInfo(out, static_cast<int>(length * 2 + 5));
  appendBinaryStringInfo(out, "\"\\\\x", 4);
  hex_encode(VARDATA_ANY(bytes), length, out->data + out->len);
  out->len += static_cast<int>(length * 2);
  out->data[out->len] = '\0';
  appendStringInfoChar(out, '"');
}

void append_interval(StringInfo out, Datum value) {
  Interval *span = DatumGetIntervalP(value);
  struct pg_itm itm;
  char buffer[MAXDATELEN + 1];
  interval2itm(*span, &itm);
  EncodeInterval(&itm, INTSTYLE_ISO_8601, buffer);
  append_json_string(out, buffer);
}

} // namespace

void init_column_encoder(ColumnEncoder *encoder, Oid type, MemoryContext context) {
  Oid base = getBaseType(type);
  encoder->type = base;
  encoder->kind = kind_of(base);
  if (encoder->kind == ValueKind::text_output || encoder->kind == ValueKind::json) {
    Oid output_function;
    bool is_varlena;
    getTypeOutputInfo(base, &output_function, &is_varlena);
    fmgr_info_cxt(output_function, &encoder->output, context);
  }
}

void append_json_value(StringInfo out, const ColumnEncoder *encoder, Datum value, bool isnull) {
  if (isnull) {
    appendBinaryStringInfo(out, "null", 4);
    return;
  }
  char buffer[MAXDATELEN + 1];
  switch (encoder->kind) {
  case ValueKind::integer: {
    int64 number = encoder->type == INT8OID   ? DatumGetInt64(value)
                   : encoder->type == INT4OID ? DatumGetInt32(value)
                                              : DatumGetInt16(value);
    char digits[MAXINT8LEN + 1];
    int length = pg_lltoa(number, digits);
    appendBinaryStringInfo(out, digits, length);
    return;
  }
  case ValueKind::boolean:
    if (DatumGetBool(value))
      appendBinaryStringInfo(out, "true", 4);
    else
      appendBinaryStringInfo(out, "false", 5);
    return;
  case ValueKind::json:
    appendStringInfoString(out, OutputFunctionCall(const_cast<FmgrInfo *>(&encoder->output), value));
    return;
  case ValueKind::timestamptz: {
    const int utc = 0;
    append_json_string(out, JsonEncodeDateTime(buffer, value, TIMESTAMPTZOID, &utc));
    return;
  }
  case ValueKind::datetime:
    append_json_string(out, JsonEncodeDateTime(buffer, value, encoder->type, nullptr));
    return;
  case ValueKind::interval:
    append_interval(out, value);
    return;
  case ValueKind::bytea:
    append_bytea(out, value);
    return;
  case ValueKind::float4:
    append_float(out, DatumGetFloat4(value), true);
    return;
  case ValueKind::float8:
    append_float(out, DatumGetFloat8(value), false);
    return;
  case ValueKind::text_output:
    append_json_string(out, OutputFunctionCall(const_cast<FmgrInfo *>(&encoder->output), value));
    return;
  }
}

} // namespace ectowatch
