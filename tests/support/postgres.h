// A real PostgreSQL server for a test, in its own temporary directory: initdb, pg_ctl
// start/stop, a database per test, and psql for the test's own SQL. It listens on a unix
// socket in that directory only (no TCP port, so parallel tests never collide). As root
// (tests run as root here) the server runs as the `postgres` user through runuser, since
// PostgreSQL refuses to run as root. Every step is bounded in time; a server that cannot
// start fails the test loudly, it is never skipped.
#pragma once

#include <memory>
#include <string>

#include "tests/support/process.h"

namespace im::test {

class Postgres {
 public:
  // initdb + start. nullptr (and a test failure with the log) if either fails.
  static std::unique_ptr<Postgres> Start();
  ~Postgres();  // stops it (immediate)
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  bool Stop(bool immediate = true);  // pg_ctl stop -m immediate|fast
  bool Restart();                    // pg_ctl start again on the same data
  const std::string& socket_dir() const { return dir_.path(); }
  // postgresql://im@/DB?host=DIR&connect_timeout=10
  std::string Url(const std::string& db) const;
  // A fresh database; false (with a test failure) if it could not be created.
  bool CreateDatabase(const std::string& db);
  // Runs SQL through psql on `db`; its output (unaligned, tuples only) in *out. False on error.
  bool Psql(const std::string& db, const std::string& sql, std::string* out = nullptr);
  // The same in the background, returning at once (e.g. a transaction that holds a lock
  // for a while); the psql process is killed when this object goes.
  void PsqlInBackground(const std::string& db, const std::string& sql);
  std::string Log() const;

 private:
  Postgres() = default;
  bool Run(const std::string& command, std::string* out = nullptr);
  std::string AsPostgres(const std::string& command) const;

  TempDir dir_;
  std::string bin_;
  std::vector<std::unique_ptr<Process>> background_;
};

}  // namespace im::test
