// ectowatch_check_condition(text): proves that a watcher's condition is one
// SQL expression and nothing else, before ectowatch_watch() pastes it into
// CREATE TRIGGER ... WHEN ((<condition>\n)). The text is parsed on its own as
// `SELECT <condition>\n`: a single statement, a single unnamed target, no
// FROM/WHERE/ORDER BY/UNION/... and no `;`. A complete expression has balanced
// parentheses, quotes and comments, so it cannot close the WHEN clause early.
#include "boundary.hpp"

namespace ectowatch {

namespace {

[[noreturn]] void reject(const char *condition, const char *why) {
  ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR), errmsg("condition is not one SQL expression: %s", why),
                  errdetail("The condition was: %s", condition),
                  errhint("Write one boolean expression over OLD and NEW, as in CREATE TRIGGER ... WHEN (...), "
                          "for example: NEW.status IS DISTINCT FROM OLD.status")));
}

bool only_a_target_list(const SelectStmt *select) {
  return select->op == SETOP_NONE && select->distinctClause == NIL && select->intoClause == nullptr &&
         select->fromClause == NIL && select->whereClause == nullptr && select->groupClause == NIL &&
         !select->groupDistinct && select->havingClause == nullptr && select->windowClause == NIL &&
         select->valuesLists == NIL && select->sortClause == NIL && select->limitOffset == nullptr &&
         select->limitCount == nullptr && select->lockingClause == NIL && select->withClause == nullptr &&
         list_length(select->targetList) == 1;
}

Datum check_condition(FunctionCallInfo fcinfo) {
  if (PG_ARGISNULL(0))
    PG_RETURN_VOID();
  const char *condition = text_to_cstring(PG_GETARG_TEXT_PP(0));
  bool blank = true;
  for (const char *c = condition; *c; ++c)
    if (!scanner_isspace(*c))
      blank = false;
  if (blank)
    reject(condition, "it is empty");

  StringInfoData statement;
  initStringInfo(&statement);
  appendStringInfo(&statement, "SELECT %s\n", condition);

  // A syntax error becomes this function's own error (reject, outside the
  // catch block: its longjmp must skip no C++ frame).
  List *parsed = NIL;
  const char *parse_problem = nullptr;
  try {
    call_postgres([&] { parsed = raw_parser(statement.data, RAW_PARSE_DEFAULT); });
  } catch (const PostgresError &error) {
    parse_problem = error.what();
  }
  if (parse_problem)
    reject(condition, parse_problem);

  if (list_length(parsed) != 1)
    reject(condition, "it contains more than one statement");
  const RawStmt *raw = linitial_node(RawStmt, parsed);
  if (raw->stmt_len != 0)
    reject(condition, "it contains \";\"");
  if (!IsA(raw->stmt, SelectStmt) || !only_a_target_list(castNode(SelectStmt, raw->stmt)))
    reject(condition, "it contains more than an expression");
  const auto *target = linitial_node(ResTarget, castNode(SelectStmt, raw->stmt)->targetList);
  if (target->name != nullptr)
    reject(condition, "it names its result");
  if (IsA(target->val, ColumnRef) && IsA(llast(castNode(ColumnRef, target->val)->fields), A_Star))
    reject(condition, "\"*\" is not an expression");
  PG_RETURN_VOID();
}

} // namespace

} // namespace ectowatch

extern "C" {
PG_FUNCTION_INFO_V1(ectowatch_check_condition);
Datum ectowatch_check_condition(PG_FUNCTION_ARGS) {
  return ectowatch::guarded_entry([fcinfo] { return ectowatch::check_condition(fcinfo); });
}
}
