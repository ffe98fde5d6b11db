// What the client needs to speak TLS to the accounts server: the context (CA, verify
// mode) made once at start, and the name the server's certificate must carry.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace im::client {

struct TlsClient {
  std::shared_ptr<SSL_CTX> ctx;  // null: plain TCP
  std::string name;              // --server-name, or the host part of --server
};

}  // namespace im::client
