// Which engine holds the state and its options, as given on the command line, and the
// one function that opens it. The server passes options through without knowing them;
// each engine checks its own and refuses unknown ones.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/store.h"

namespace im::server {

struct StoreConfig {
  // "sqlite:PATH" or a plain PATH (SQLite, the default), optionally with
  // "?name=value&..." engine options.
  std::string url = "sqlite:im.db";
  // Engine options from other flags (--sync, --cache-mib): name, value.
  std::vector<std::pair<std::string, std::string>> options;
  int64_t max_users = 0;  // REG answers 203 past this many accounts; 0: no limit
  int64_t presence_ttl_ms = 0;  // stored presence older than this is purged (--presence-ttl); 0: kept
};

// Splits "scheme:rest?a=1&b=2" into the scheme ("sqlite" if there is none), the location
// and the options (appended to *options). False for a malformed option list.
bool SplitStoreUrl(const std::string& url, std::string* scheme, std::string* location,
                   std::vector<std::pair<std::string, std::string>>* options);

// Checks the URL and the engine options without opening anything (a usage error).
bool CheckStoreConfig(const StoreConfig& config, std::string* error);

// Opens the engine the URL names. Start-up only (it may wait a little for a database
// another server is creating). nullptr with *error set on failure.
std::unique_ptr<Store> OpenStore(uv_loop_t* loop, const StoreConfig& config, std::string* error);

}  // namespace im::server
