// What the bridge publishes per event (client/bridge/outgoing.hpp): subject,
// Nats-Msg-Id (<source>-<prefix>-<lsn>-<row>), headers' fields and payload, exactly as docs/protocol.md gives
// them, also when the builder's reused buffers and its per-message caches
// (LSN text, payload head) go from one message, label or kind to another.
#define BOOST_TEST_MODULE bridge_outgoing
#include <boost/test/unit_test.hpp>

#include "../../client/bridge/outgoing.hpp"
#include "../../client/bridge/subject.hpp"

#include <memory>
#include <string>
#include <vector>

using namespace ectowatch;
using namespace ectowatch::bridge;

namespace {

// A message of `label` at `lsn` whose rows have one key column "id" with the
// given JSON values (numbers or strings).
std::shared_ptr<Message> message(const std::string &label, const std::string &table, Op op, std::uint64_t lsn,
                                 const std::vector<std::string> &ids) {
  auto message = std::make_shared<Message>();
  message->label = label;
  message->table = table;
  message->op = op;
  message->lsn = lsn;
  message->key_columns = {"id"};
  message->unescaped.assign(ids.begin(), ids.end()); // stable storage for the views
  for (const std::string &json : message->unescaped) {
    bool string = json.front() == '"';
    std::string_view text = string ? std::string_view(json).substr(1, json.size() - 2) : std::string_view(json);
    message->columns.emplace_back("id", Value(string ? Value::Kind::string : Value::Kind::number, json, text));
  }
  for (std::size_t i = 0; i < message->columns.size(); ++i)
    message->rows.emplace_back(&message->columns[i], 1);
  return message;
}

void check(const Outgoing &out, const std::string &subject, const std::string &msg_id, const std::string &op,
           const std::string &label, const std::string &lsn_text, const std::string &payload) {
  BOOST_TEST(out.subject == subject);
  BOOST_TEST(out.msg_id == msg_id);
  BOOST_TEST(out.op == op);
  BOOST_TEST(out.label == label);
  BOOST_TEST(out.lsn_text == lsn_text);
  BOOST_TEST(out.payload == payload);
}

} // namespace

BOOST_AUTO_TEST_CASE(rows_of_several_messages_and_labels) {
  OutgoingBuilder builder("pre.fix", "7001-1-5");
  auto users = message("users_inserted", "public.users", Op::inserted, 0x16B374D848, {"42", "\"a.b c\""});
  auto orders = message("orders_deleted", "shop.orders", Op::deleted, 0x16B374D900, {"7"});
  check(builder.build(Event(users, Event::Kind::row, 0)), "pre.fix.users_inserted.42", "7001-1-5-pre.fix-16/B374D848-0",
        "inserted", "users_inserted", "16/B374D848",
        R"({"label":"users_inserted","table":"public.users","op":"inserted","row":{"id":42},"lsn":"16/B374D848"})");
  check(
      builder.build(Event(users, Event::Kind::row, 1)), "pre.fix.users_inserted.a~2Eb~20c",
      "7001-1-5-pre.fix-16/B374D848-1", "inserted", "users_inserted", "16/B374D848",
      R"({"label":"users_inserted","table":"public.users","op":"inserted","row":{"id":"a.b c"},"lsn":"16/B374D848"})");
  check(builder.build(Event(orders, Event::Kind::row, 0)), "pre.fix.orders_deleted.7", "7001-1-5-pre.fix-16/B374D900-0",
        "deleted", "orders_deleted", "16/B374D900",
        R"({"label":"orders_deleted","table":"shop.orders","op":"deleted","row":{"id":7},"lsn":"16/B374D900"})");
  check(builder.build(Event(users, Event::Kind::row, 0)), "pre.fix.users_inserted.42", "7001-1-5-pre.fix-16/B374D848-0",
        "inserted", "users_inserted", "16/B374D848",
        R"({"label":"users_inserted","table":"public.users","op":"inserted","row":{"id":42},"lsn":"16/B374D848"})");
}

BOOST_AUTO_TEST_CASE(truncated_dropped_and_rows_with_columns_left_out) {
  OutgoingBuilder builder("ectowatch", "7001-1-5");
  auto truncated = message("t_deleted", "public.t", Op::deleted, 0x100, {});
  check(builder.build(Event(truncated, Event::Kind::truncated)), "ectowatch.t_deleted.~truncated",
        "7001-1-5-ectowatch-0/100-truncated", "truncated", "t_deleted", "0/100",
        R"({"event":"truncated","label":"t_deleted","lsn":"0/100"})");
  auto dropped = message("t_deleted", "public.t", Op::deleted, 0x200, {"1"});
  dropped->dropped = 5;
  dropped->truncated = true;
  check(builder.build(Event(dropped, Event::Kind::dropped)), "ectowatch.t_deleted.~dropped",
        "7001-1-5-ectowatch-0/200-dropped", "deleted", "t_deleted", "0/200",
        R"({"event":"dropped","label":"t_deleted","count":5,"lsn":"0/200"})");
  BOOST_TEST(builder.build(Event(dropped, Event::Kind::dropped)).dropped_rows == 5u); // the bridge's --stats
  check(builder.build(Event(dropped, Event::Kind::row, 0)), "ectowatch.t_deleted.1", "7001-1-5-ectowatch-0/200-0",
        "deleted", "t_deleted", "0/200",
        R"({"label":"t_deleted","table":"public.t","op":"deleted","row":{"id":1},"truncated":true,"lsn":"0/200"})");
  BOOST_TEST(builder.build(Event(dropped, Event::Kind::row, 0)).dropped_rows == 0u);
}

// A row whose subject would still be longer than kMaxSubjectBytes once its
// tokens are hashed (here: a long prefix) is published as a `~dropped`
// marker saying why, under the row's own Nats-Msg-Id; the next row is a row again.
BOOST_AUTO_TEST_CASE(a_row_whose_subject_cannot_fit_is_a_dropped_marker) {
  std::string prefix(kMaxSubjectBytes - 10, 'p');
  OutgoingBuilder builder(prefix, "7001-1-5");
  auto rows = message("t_inserted", "public.t", Op::inserted, 0x300, {R"("long key")", "1"});
  check(builder.build(Event(rows, Event::Kind::row, 0)), prefix + ".t_inserted.~dropped",
        "7001-1-5-" + prefix + "-0/300-0", "inserted", "t_inserted", "0/300",
        R"({"event":"dropped","label":"t_inserted","count":1,"reason":"subject_too_long","lsn":"0/300"})");
  BOOST_TEST(builder.build(Event(rows, Event::Kind::row, 0)).dropped_rows == 1u);
  OutgoingBuilder short_prefix("e", "7001-2-5"); // another timeline
  check(short_prefix.build(Event(rows, Event::Kind::row, 1)), "e.t_inserted.1", "7001-2-5-e-0/300-1", "inserted",
        "t_inserted", "0/300",
        R"({"label":"t_inserted","table":"public.t","op":"inserted","row":{"id":1},"lsn":"0/300"})");
}
