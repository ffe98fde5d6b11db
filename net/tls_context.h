// An OpenSSL 3 SSL_CTX set up the one way each side of the system needs it: a server
// from a certificate chain and key file, a client that verifies against a CA file.
// TLS 1.2 is the oldest version either side speaks. Loop thread only.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace im::net {

struct FreeSslCtx {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, FreeSslCtx>;

// nullptr and *error ("--tls-cert FILE: reason") if the files do not load or do not match.
SslCtxPtr MakeServerTlsContext(const std::string& cert_file, const std::string& key_file, std::string* error);

// Verifies the server's chain against ca_file (the system's store if empty).
SslCtxPtr MakeClientTlsContext(const std::string& ca_file, std::string* error);

// Session tickets keyed from `secret` (the store's shared secret), so every server that
// shares the store can resume a session another one started. Until it is called (and
// with an empty secret) the context issues no tickets.
void SetTicketSecret(SSL_CTX* ctx, std::string_view secret);

// Turns session resumption off (no tickets, no session cache).
void DisableResumption(SSL_CTX* ctx);

// The most recent OpenSSL error of this thread as text (and clears the queue).
std::string TlsErrorText();

}  // namespace im::net
