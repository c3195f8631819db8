#include "message_auth.hpp"

#include "pg_compat.hpp"

#include <openssl/evp.h>

#include <fcntl.h>
#include <initializer_list>
#include <sys/stat.h>
#include <unistd.h>

namespace ectowatch {

namespace {

constexpr char kKeyMagic[8] = {'E', 'C', 'T', 'O', 'W', 'K', '0', '1'};
constexpr int kKeyBytes = 32;
constexpr int kMacBytes = PG_SHA256_DIGEST_LENGTH;
// NUL (never in a message's JSON text), version, MAC.
constexpr char kTrailerVersion = 1;
constexpr Size kTrailerBytes = 2 + kMacBytes;

// The key file: magic, then the WAL position from which every message of
// ectowatch is signed (0: all of them), then the key.
struct KeyFile {
  char magic[8];
  uint64 signed_since;
  uint8 key[kKeyBytes];
};
static_assert(sizeof(KeyFile) == 48);

// Read once per backend (the file never changes while the cluster runs,
// unless an administrator replaces it).
KeyFile cached_key;
bool key_loaded = false;

// Whether the file exists; ERROR if it exists but cannot be read or is damaged.
bool read_key_file(KeyFile *out) {
  int fd = OpenTransientFile(kKeyFile, O_RDONLY | PG_BINARY);
  if (fd < 0) {
    if (errno == ENOENT)
      return false;
    ereport(ERROR, (errcode_for_file_access(), errmsg("ectowatch: could not open \"%s\": %m", kKeyFile)));
  }
  KeyFile key;
  ssize_t got = read(fd, &key, sizeof key);
  int saved_errno = errno;
  CloseTransientFile(fd);
  if (got != static_cast<ssize_t>(sizeof key) || memcmp(key.magic, kKeyMagic, sizeof kKeyMagic) != 0) {
    errno = saved_errno;
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                    errmsg("ectowatch: the message key file \"%s\" in the data directory is damaged", kKeyFile),
                    errhint("Restore it from a backup of this data directory. Without it, durable and relayed "
                            "messages cannot be authenticated.")));
  }
  *out = key;
  return true;
}

// Whether a slot with the ectowatch plugin (other than the one being
// created) exists: its unread messages may predate signing.
bool ectowatch_slot_exists(bool exclude_own_slot) {
  bool found = false;
  LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
  for (int i = 0; i < max_replication_slots && !found; ++i) {
    ReplicationSlot *slot = &ReplicationSlotCtl->replication_slots[i];
    if (!slot->in_use || (exclude_own_slot && slot == MyReplicationSlot))
      continue;
    SpinLockAcquire(&slot->mutex);
    found = strcmp(NameStr(slot->data.plugin), "ectowatch") == 0;
    SpinLockRelease(&slot->mutex);
  }
  LWLockRelease(ReplicationSlotControlLock);
  return found;
}

// Creates the key file once per cluster. Written to a file of this process,
// then linked to its name: link() never replaces a file, so of two backends
// racing, one key wins and both use it.
void create_key_file(bool exclude_own_slot) {
  KeyFile key;
  memcpy(key.magic, kKeyMagic, sizeof kKeyMagic);
  // Messages already in a slot were written unsigned by an older ectowatch:
  // they stay deliverable. With no slot, nothing before now can be decoded.
  key.signed_since = ectowatch_slot_exists(exclude_own_slot) ? GetXLogInsertRecPtr() : 0;
  if (!pg_strong_random(key.key, sizeof key.key))
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("ectowatch: could not generate a random message key")));
  char temporary[MAXPGPATH];
  snprintf(temporary, sizeof temporary, "%s.%d.tmp", kKeyFile, MyProcPid);
  int fd = OpenTransientFilePerm(temporary, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
  if (fd < 0)
    ereport(ERROR, (errcode_for_file_access(), errmsg("ectowatch: could not create \"%s\": %m", temporary)));
  errno = 0;
  bool written = write(fd, &key, sizeof key) == static_cast<ssize_t>(sizeof key) && pg_fsync(fd) == 0;
  if (errno == 0)
    errno = ENOSPC;
  int saved_errno = errno;
  CloseTransientFile(fd);
  if (!written) {
    unlink(temporary);
    errno = saved_errno;
    ereport(ERROR, (errcode_for_file_access(), errmsg("ectowatch: could not write \"%s\": %m", temporary)));
  }
  if (link(temporary, kKeyFile) != 0 && errno != EEXIST) {
    saved_errno = errno;
    unlink(temporary);
    errno = saved_errno;
    ereport(ERROR,
            (errcode_for_file_access(), errmsg("ectowatch: could not link \"%s\" to \"%s\": %m", temporary, kKeyFile)));
  }
  unlink(temporary);
  fsync_fname(kKeyFile, false);
  fsync_fname(".", true);
}

// HMAC-SHA256 (RFC 2104) with the key absorbed once per backend: the SHA-256
// states after the inner and the outer padded key are kept, and each message
// starts from copies of them. PostgreSQL's pg_hmac_* sets up a new OpenSSL
// context for every message (fetching the digest, hashing both pads): about
// 25 k instructions, a fifth of a single-row durable transaction. Plain
// OpenSSL EVP calls (1.1 and 3.x): PostgreSQL itself links the same library.
struct MacState {
  EVP_MD_CTX *inner;   // after (key XOR ipad)
  EVP_MD_CTX *outer;   // after (key XOR opad)
  EVP_MD_CTX *working; // the message being hashed
};
MacState mac_state;

void openssl_failed() {
  ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("ectowatch: could not compute a message MAC (OpenSSL)")));
}

bool absorb_padded_key(EVP_MD_CTX *context, const uint8 *key, uint8 pad_byte) {
  constexpr int kBlockBytes = 64; // SHA-256's block; the key is shorter
  static_assert(kKeyBytes <= kBlockBytes);
  uint8 pad[kBlockBytes];
  memset(pad, pad_byte, sizeof pad);
  for (int i = 0; i < kKeyBytes; ++i)
    pad[i] ^= key[i];
  return EVP_DigestInit_ex(context, EVP_sha256(), nullptr) == 1 && EVP_DigestUpdate(context, pad, sizeof pad) == 1;
}

// The MAC of what makes a message ectowatch's: its prefix, its database,
// the transaction that wrote it, and its text. The xid keeps a message seen
// elsewhere (test_decoding prints message bytes) from being replayed in
// another transaction; the database, in another database.
void compute_mac(const char *prefix, TransactionId xid, const char *text, Size size, uint8 mac[kMacBytes]) {
  uint32 binding[2] = {MyDatabaseId, xid};
  uint8 inner_hash[kMacBytes];
  EVP_MD_CTX *working = mac_state.working;
  bool ok =
      EVP_MD_CTX_copy_ex(working, mac_state.inner) == 1 && EVP_DigestUpdate(working, prefix, strlen(prefix) + 1) == 1 &&
      EVP_DigestUpdate(working, binding, sizeof binding) == 1 && EVP_DigestUpdate(working, text, size) == 1 &&
      EVP_DigestFinal_ex(working, inner_hash, nullptr) == 1 && EVP_MD_CTX_copy_ex(working, mac_state.outer) == 1 &&
      EVP_DigestUpdate(working, inner_hash, sizeof inner_hash) == 1 && EVP_DigestFinal_ex(working, mac, nullptr) == 1;
  if (!ok)
    openssl_failed();
}

// The same MAC by PostgreSQL's own HMAC, once per backend: messages already
// in the WAL were signed with it, and must still verify.
void reference_mac(const uint8 *key, const char *prefix, TransactionId xid, const char *text, Size size,
                   uint8 mac[kMacBytes]) {
  pg_hmac_ctx *context = pg_hmac_create(PG_SHA256);
  if (!context)
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("ectowatch: out of memory computing a message MAC")));
  uint32 binding[2] = {MyDatabaseId, xid};
  bool ok = pg_hmac_init(context, key, kKeyBytes) == 0 &&
            pg_hmac_update(context, reinterpret_cast<const uint8 *>(prefix), strlen(prefix) + 1) == 0 &&
            pg_hmac_update(context, reinterpret_cast<const uint8 *>(binding), sizeof binding) == 0 &&
            pg_hmac_update(context, reinterpret_cast<const uint8 *>(text), size) == 0 &&
            pg_hmac_final(context, mac, kMacBytes) == 0;
  pg_hmac_free(context);
  if (!ok)
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("ectowatch: could not compute a message MAC")));
}

void prepare_mac_state(const uint8 *key) {
  for (EVP_MD_CTX **context : {&mac_state.inner, &mac_state.outer, &mac_state.working})
    if (!*context && !(*context = EVP_MD_CTX_new()))
      ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("ectowatch: out of memory computing a message MAC")));
  if (!absorb_padded_key(mac_state.inner, key, 0x36) || !absorb_padded_key(mac_state.outer, key, 0x5c))
    openssl_failed();
}

const KeyFile &message_key(bool creating_slot) {
  if (key_loaded)
    return cached_key;
  if (!read_key_file(&cached_key)) {
    if (RecoveryInProgress())
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("ectowatch: the message key file \"%s\" is missing on this standby", kKeyFile),
                      errhint("Copy it from the primary's data directory (it exists there once a durable or "
                              "relayed message was written), or take the base backup again.")));
    create_key_file(creating_slot);
    if (!read_key_file(&cached_key))
      ereport(ERROR, (errcode_for_file_access(), errmsg("ectowatch: \"%s\" vanished after it was created", kKeyFile)));
  }
  prepare_mac_state(cached_key.key);
  key_loaded = true;
  return cached_key;
}

// Whether compute_mac agrees with PostgreSQL's HMAC in this backend.
bool mac_cross_checked = false;

// The key for signing or checking a message. The first time, compute_mac
// is checked against PostgreSQL's HMAC (messages already in the WAL were
// signed with it, and must still verify). Not before a resource owner
// exists: pg_hmac_* registers its OpenSSL context with one, and a slot's
// creation (message_key's first call in a walsender) has none.
const KeyFile &signing_key() {
  const KeyFile &key = message_key(false);
  if (mac_cross_checked || !CurrentResourceOwner)
    return key;
  const char sample[] = "{\"v\":1}";
  uint8 ours[kMacBytes], reference[kMacBytes];
  compute_mac("ectowatch", 42, sample, sizeof sample - 1, ours);
  reference_mac(key.key, "ectowatch", 42, sample, sizeof sample - 1, reference);
  if (memcmp(ours, reference, kMacBytes) != 0)
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("ectowatch: the message MAC computed with OpenSSL differs from PostgreSQL's HMAC"),
                    errhint("The extension was linked with a libcrypto that is not the server's: rebuild it against "
                            "the same OpenSSL.")));
  mac_cross_checked = true;
  return key;
}

bool same_mac(const uint8 *a, const uint8 *b) {
  uint8 difference = 0; // constant time
  for (int i = 0; i < kMacBytes; ++i)
    difference |= a[i] ^ b[i];
  return difference == 0;
}

} // namespace

void ensure_message_key(bool creating_slot) { (void)message_key(creating_slot); }

void log_authenticated_message(const char *prefix, const char *text, size_t size) {
  (void)signing_key();
  char *message = static_cast<char *>(palloc(size + kTrailerBytes));
  memcpy(message, text, size);
  message[size] = '\0';
  message[size + 1] = kTrailerVersion;
  compute_mac(prefix, GetTopTransactionId(), text, size, reinterpret_cast<uint8 *>(message + size + 2));
  compat::log_logical_message(prefix, message, size + kTrailerBytes, true);
  pfree(message);
}

MessageCheck check_message(const char *prefix, TransactionId xid, XLogRecPtr position, const char *message, Size size,
                           Size *text_size) {
  const KeyFile &key = signing_key();
  bool before_signing = position < key.signed_since;
  bool has_trailer = size >= kTrailerBytes && message[size - kTrailerBytes] == '\0' &&
                     message[size - kTrailerBytes + 1] == kTrailerVersion;
  *text_size = size;
  if (!has_trailer)
    return before_signing ? MessageCheck::legacy : MessageCheck::forged;
  Size text = size - kTrailerBytes;
  uint8 mac[kMacBytes];
  compute_mac(prefix, xid, message, text, mac);
  if (same_mac(mac, reinterpret_cast<const uint8 *>(message + text + 2))) {
    *text_size = text;
    return MessageCheck::genuine;
  }
  return before_signing ? MessageCheck::earlier_key : MessageCheck::forged;
}

} // namespace ectowatch
