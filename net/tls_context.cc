#include "net/tls_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <cstring>

namespace im::net {
namespace {

// Keys for session tickets; one set per context, kept in the context's ex_data.
struct TicketKeys {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
};

int TicketKeysIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        if (ptr != nullptr) {
          OPENSSL_cleanse(ptr, sizeof(TicketKeys));
          delete static_cast<TicketKeys*>(ptr);
        }
      });
  return index;
}

// OpenSSL asks for the key to seal a new ticket (enc = 1) or to open one (enc = 0).
int TicketKeyCallback(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                      EVP_MAC_CTX* mac, int enc) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TicketKeysIndex()));
  // No secret yet (a server still loading it from a busy store): 0 issues no ticket (-1
  // would fail the handshake with an internal-error alert) and refuses any offered one.
  if (keys == nullptr) return 0;
  if (enc) {
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) <= 0) return -1;
    std::memcpy(key_name, keys->name, 16);
  } else if (std::memcmp(key_name, keys->name, 16) != 0) {
    return 0;  // sealed by another key: a full handshake
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, keys->hmac, sizeof keys->hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) == 0) return -1;
  if (EVP_CipherInit_ex(cipher, EVP_aes_256_cbc(), nullptr, keys->aes, iv, enc) == 0) return -1;
  // Opening: 2 asks for a fresh ticket on the resumed connection. A TLS 1.3 client uses a
  // ticket once (RFC 8446, C.4), so with 1 every other connection was a full handshake.
  return enc ? 1 : 2;
}

void ConfigureCommon(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Partial writes and a moving buffer: SSL_write_ex is only ever called with the whole
  // buffer, but the memory BIO never refuses, so this only documents intent.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Buffers are freed while a connection is idle: many open connections, little memory.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

}  // namespace

std::string TlsErrorText() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown TLS error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

SslCtxPtr MakeServerTlsContext(const std::string& cert_file, const std::string& key_file, std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    *error = "TLS: " + TlsErrorText();
    return nullptr;
  }
  ConfigureCommon(ctx.get());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    *error = "--tls-cert " + cert_file + ": " + TlsErrorText();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    *error = "--tls-key " + key_file + ": " + TlsErrorText();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    *error = "--tls-key " + key_file + ": does not match --tls-cert " + cert_file;
    return nullptr;
  }
  // Tickets only (stateless): a cache in one process would not help the other backends.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx.get(), TicketKeyCallback);
  // One ticket per full handshake is enough for a client that makes one request per connection.
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  return ctx;
}

SslCtxPtr MakeClientTlsContext(const std::string& ca_file, std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *error = "TLS: " + TlsErrorText();
    return nullptr;
  }
  ConfigureCommon(ctx.get());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                           : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  if (ok != 1) {
    *error = (ca_file.empty() ? std::string("system CA store") : "--ca-file " + ca_file) + ": " + TlsErrorText();
    return nullptr;
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  return ctx;
}

void SetTicketSecret(SSL_CTX* ctx, std::string_view secret) {
  if (secret.empty()) return;
  // Sub-keys of the shared secret, one per purpose, so the ticket keys reveal nothing of
  // the secret the proofs and cookies use.
  unsigned char master[crypto_kdf_KEYBYTES];
  crypto_generichash(master, sizeof master, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>("im tls tickets"), 14);
  auto* keys = new TicketKeys;
  crypto_kdf_derive_from_key(keys->name, sizeof keys->name, 1, "tlstickt", master);
  crypto_kdf_derive_from_key(keys->aes, sizeof keys->aes, 2, "tlstickt", master);
  crypto_kdf_derive_from_key(keys->hmac, sizeof keys->hmac, 3, "tlstickt", master);
  sodium_memzero(master, sizeof master);
  if (auto* old = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(ctx, TicketKeysIndex()))) {
    OPENSSL_cleanse(old, sizeof *old);
    delete old;
  }
  SSL_CTX_set_ex_data(ctx, TicketKeysIndex(), keys);
}

void DisableResumption(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

}  // namespace im::net
