#include "server/store_config.h"

#include "server/pg_store.h"
#include "server/sqlite_store.h"

namespace im::server {

bool SplitStoreUrl(const std::string& url, std::string* scheme, std::string* location,
                   std::vector<std::pair<std::string, std::string>>* options) {
  std::string rest = url;
  size_t colon = url.find(':');
  // "sqlite:x" has a scheme; "x" and "/a:b" (a path with a colon) do not.
  bool has_scheme = colon != std::string::npos && colon > 0 &&
                    url.find_first_not_of("abcdefghijklmnopqrstuvwxyz+") == colon;
  *scheme = has_scheme ? url.substr(0, colon) : "sqlite";
  if (has_scheme) rest = url.substr(colon + 1);
  if (*scheme != "sqlite") {  // other engines parse their own URL (libpq, redis)
    *location = url;
    return true;
  }
  size_t query = rest.find('?');
  *location = rest.substr(0, query);
  if (query == std::string::npos) return true;
  std::string list = rest.substr(query + 1);
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t amp = list.find('&', pos);
    std::string item = list.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = item.find('=');
    if (item.empty() || eq == std::string::npos || eq == 0) return false;
    options->emplace_back(item.substr(0, eq), item.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return true;
}

namespace {

// The engines: a new engine is a new file and a new row in each of these two functions.
bool ParseEngine(const StoreConfig& config, std::string* scheme, std::string* location,
                 SqliteStore::Options* sqlite, PgStore::Options* pg, std::string* error) {
  auto options = config.options;
  if (!SplitStoreUrl(config.url, scheme, location, &options)) {
    *error = "--store " + config.url + ": options must be ?name=value&name=value";
    return false;
  }
  if (*scheme == "sqlite") return SqliteStore::ParseOptions(*location, options, config.max_users, sqlite, error);
  if (*scheme == "postgresql" || *scheme == "postgres") {
    return PgStore::ParseOptions(*location, options, config.max_users, pg, error);
  }
  *error = "--store " + config.url + ": unknown engine \"" + *scheme + "\" (known: sqlite, postgresql)";
  return false;
}

}  // namespace

bool CheckStoreConfig(const StoreConfig& config, std::string* error) {
  std::string scheme, location;
  SqliteStore::Options sqlite;
  PgStore::Options pg;
  return ParseEngine(config, &scheme, &location, &sqlite, &pg, error);
}

std::unique_ptr<Store> OpenStore(uv_loop_t* loop, const StoreConfig& config, std::string* error) {
  std::string scheme, location;
  SqliteStore::Options sqlite;
  PgStore::Options pg;
  if (!ParseEngine(config, &scheme, &location, &sqlite, &pg, error)) return nullptr;
  sqlite.presence_ttl_ms = config.presence_ttl_ms;
  pg.presence_ttl_ms = config.presence_ttl_ms;
  if (scheme == "sqlite") return SqliteStore::Open(loop, sqlite, error);
  if (scheme == "postgresql" || scheme == "postgres") return PgStore::Open(loop, pg, error);
  return nullptr;
}

}  // namespace im::server
