// The cryptography of encrypted chat (docs/PROTOCOL.md, "Encrypted chat"), on libsodium:
// each client's long-term X25519 key pair and its fingerprint, the handshake that turns
// two ephemeral and two static keys into one key per direction, and the per-direction
// crypto_secretstream that seals each chat line. Pure computation, no I/O.
//
// Why this shape: a caller knows the callee's fingerprint from its GET entry (and the
// callee knows the caller's), so both static keys are pinned before the first byte.
// Three Diffie-Hellman values (ephemeral-ephemeral for forward secrecy, and each side's
// ephemeral with the other's static) bind the keys to both identities, as Noise's KK
// pattern does: only the holder of a pinned private key can derive them. The first
// record of each stream is the key confirmation. crypto_secretstream then numbers,
// authenticates and encrypts every line, so a record cannot be replayed, reordered,
// dropped unnoticed or forged.
#pragma once

#include <sodium.h>

#include <optional>
#include <string>
#include <string_view>

namespace im::auth {

// The base64url fingerprint of a 32-byte X25519 public key: 16 bytes of BLAKE2b,
// 22 characters (proto::kChatKeyChars).
std::string ChatFingerprint(std::string_view public_key);

// A client's long-term chat key pair, made at start (or kept by its owner).
class ChatIdentity {
 public:
  static ChatIdentity Generate();
  ChatIdentity(const ChatIdentity&) = default;
  ChatIdentity& operator=(const ChatIdentity&) = default;
  ~ChatIdentity() { sodium_memzero(secret_, sizeof secret_); }

  std::string_view public_key() const { return {reinterpret_cast<const char*>(public_), sizeof public_}; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  friend class ChatHandshake;
  ChatIdentity() = default;
  unsigned char public_[crypto_scalarmult_BYTES]{};
  unsigned char secret_[crypto_scalarmult_SCALARBYTES]{};
  std::string fingerprint_;
};

// One direction of an open chat: seals what we send or opens what the peer sent, in order.
class ChatStream {
 public:
  // A stream we send on: *header (24 bytes) goes to the peer first.
  static ChatStream Sending(const unsigned char key[32], std::string* header);
  // A stream we receive on, from the peer's header. nullopt if the header is malformed.
  static std::optional<ChatStream> Receiving(const unsigned char key[32], std::string_view header);
  ~ChatStream() { sodium_memzero(&state_, sizeof state_); }

  std::string Seal(std::string_view plaintext);
  // nullopt if the record was forged, altered, replayed or is out of order: the stream
  // cannot be trusted after that, and the chat ends.
  std::optional<std::string> Open(std::string_view record);

 private:
  ChatStream() = default;
  crypto_secretstream_xchacha20poly1305_state state_{};
};

// One side's handshake: its ephemeral key pair, then the two directions' keys.
class ChatHandshake {
 public:
  ChatHandshake(const ChatIdentity& me, bool caller);
  ChatHandshake(const ChatHandshake&) = delete;
  ChatHandshake& operator=(const ChatHandshake&) = delete;
  ~ChatHandshake();

  std::string_view ephemeral_public() const {
    return {reinterpret_cast<const char*>(ephemeral_public_), sizeof ephemeral_public_};
  }
  // Derives the keys from the peer's 32-byte ephemeral and static public keys. False if
  // either is malformed or a Diffie-Hellman value is degenerate (a low-order point).
  bool Derive(std::string_view peer_ephemeral, std::string_view peer_static);
  // After Derive: our sending stream (with the header to send) and the peer's.
  ChatStream StartSending(std::string* header) const;
  std::optional<ChatStream> StartReceiving(std::string_view header) const;

 private:
  const ChatIdentity& me_;
  bool caller_;
  unsigned char ephemeral_public_[crypto_scalarmult_BYTES]{};
  unsigned char ephemeral_secret_[crypto_scalarmult_SCALARBYTES]{};
  unsigned char send_key_[32]{};
  unsigned char receive_key_[32]{};
  bool derived_ = false;
};

}  // namespace im::auth
