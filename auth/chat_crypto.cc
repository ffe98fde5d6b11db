#include "auth/chat_crypto.h"

#include <cstring>

#include "auth/keys.h"

namespace im::auth {
namespace {

constexpr char kKdfContext[] = "im chat v1";  // a different protocol version derives different keys

std::string_view AsText(const unsigned char* bytes, size_t n) { return {reinterpret_cast<const char*>(bytes), n}; }

}  // namespace

std::string ChatFingerprint(std::string_view public_key) {
  unsigned char digest[16];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(public_key.data()),
                     public_key.size(), nullptr, 0);
  return EncodeBase64Url(AsText(digest, sizeof digest));
}

ChatIdentity ChatIdentity::Generate() {
  ChatIdentity identity;
  randombytes_buf(identity.secret_, sizeof identity.secret_);
  crypto_scalarmult_base(identity.public_, identity.secret_);
  identity.fingerprint_ = ChatFingerprint(identity.public_key());
  return identity;
}

ChatStream ChatStream::Sending(const unsigned char key[32], std::string* header) {
  ChatStream stream;
  unsigned char h[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_init_push(&stream.state_, h, key);
  header->assign(AsText(h, sizeof h));
  return stream;
}

std::optional<ChatStream> ChatStream::Receiving(const unsigned char key[32], std::string_view header) {
  if (header.size() != crypto_secretstream_xchacha20poly1305_HEADERBYTES) return std::nullopt;
  ChatStream stream;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&stream.state_,
                                                      reinterpret_cast<const unsigned char*>(header.data()), key) != 0) {
    return std::nullopt;
  }
  return stream;
}

std::string ChatStream::Seal(std::string_view plaintext) {
  std::string record(plaintext.size() + crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
  crypto_secretstream_xchacha20poly1305_push(&state_, reinterpret_cast<unsigned char*>(record.data()), nullptr,
                                             reinterpret_cast<const unsigned char*>(plaintext.data()),
                                             plaintext.size(), nullptr, 0,
                                             crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  return record;
}

std::optional<std::string> ChatStream::Open(std::string_view record) {
  if (record.size() < crypto_secretstream_xchacha20poly1305_ABYTES) return std::nullopt;
  std::string plaintext(record.size() - crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&state_, reinterpret_cast<unsigned char*>(plaintext.data()),
                                                 nullptr, &tag, reinterpret_cast<const unsigned char*>(record.data()),
                                                 record.size(), nullptr, 0) != 0 ||
      tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    return std::nullopt;
  }
  return plaintext;
}

ChatHandshake::ChatHandshake(const ChatIdentity& me, bool caller) : me_(me), caller_(caller) {
  randombytes_buf(ephemeral_secret_, sizeof ephemeral_secret_);
  crypto_scalarmult_base(ephemeral_public_, ephemeral_secret_);
}

ChatHandshake::~ChatHandshake() {
  sodium_memzero(ephemeral_secret_, sizeof ephemeral_secret_);
  sodium_memzero(send_key_, sizeof send_key_);
  sodium_memzero(receive_key_, sizeof receive_key_);
}

bool ChatHandshake::Derive(std::string_view peer_ephemeral, std::string_view peer_static) {
  if (peer_ephemeral.size() != crypto_scalarmult_BYTES || peer_static.size() != crypto_scalarmult_BYTES) return false;
  const auto* pe = reinterpret_cast<const unsigned char*>(peer_ephemeral.data());
  const auto* ps = reinterpret_cast<const unsigned char*>(peer_static.data());
  // Named from the caller's side: ee, es (caller's ephemeral, callee's static), se.
  unsigned char dh[3][crypto_scalarmult_BYTES];
  bool ok = crypto_scalarmult(dh[0], ephemeral_secret_, pe) == 0 &&
            crypto_scalarmult(dh[1], caller_ ? ephemeral_secret_ : me_.secret_, caller_ ? ps : pe) == 0 &&
            crypto_scalarmult(dh[2], caller_ ? me_.secret_ : ephemeral_secret_, caller_ ? pe : ps) == 0;
  if (ok) {
    // Both sides hash the same transcript: the DH values, then the caller's keys, then the callee's.
    crypto_generichash_state h;
    crypto_generichash_init(&h, reinterpret_cast<const unsigned char*>(kKdfContext), sizeof kKdfContext - 1, 64);
    crypto_generichash_update(&h, &dh[0][0], sizeof dh);
    const unsigned char* my_static = me_.public_;
    const unsigned char* parts[4] = {caller_ ? ephemeral_public_ : pe, caller_ ? my_static : ps,
                                     caller_ ? pe : ephemeral_public_, caller_ ? ps : my_static};
    for (const unsigned char* part : parts) crypto_generichash_update(&h, part, crypto_scalarmult_BYTES);
    unsigned char keys[64];
    crypto_generichash_final(&h, keys, sizeof keys);
    // The first half seals what the caller sends, the second what the callee sends.
    std::memcpy(send_key_, caller_ ? keys : keys + 32, 32);
    std::memcpy(receive_key_, caller_ ? keys + 32 : keys, 32);
    sodium_memzero(keys, sizeof keys);
    sodium_memzero(&h, sizeof h);
  }
  sodium_memzero(dh, sizeof dh);
  derived_ = ok;
  return ok;
}

ChatStream ChatHandshake::StartSending(std::string* header) const { return ChatStream::Sending(send_key_, header); }

std::optional<ChatStream> ChatHandshake::StartReceiving(std::string_view header) const {
  if (!derived_) return std::nullopt;
  return ChatStream::Receiving(receive_key_, header);
}

}  // namespace im::auth
