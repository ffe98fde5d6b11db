#include "tests/support/postgres.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace im::test {
std::string Postgres::AsPostgres(const std::string& command) const {
  return geteuid() == 0 ? "runuser -u postgres -- " + command : command;
}

bool Postgres::Run(const std::string& command, std::string* out) {
  // Bounded: no step of a test's database takes 30 s.
  return RunShell(command, 30, out, dir_.File("commands.log"));
}

std::unique_ptr<Postgres> Postgres::Start() {
  std::unique_ptr<Postgres> pg(new Postgres());
  const char* bin = std::getenv("IM_PGBIN");
  pg->bin_ = bin != nullptr ? bin : "/usr/lib/postgresql/15/bin";
  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr || chown(pg->dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      ADD_FAILURE() << "no postgres user to run PostgreSQL as (apt-get install postgresql)";
      return nullptr;
    }
  }
  if (!pg->Run(pg->AsPostgres(pg->bin_ + "/initdb -D " + ShellQuote(pg->dir_.File("data")) +
                              " -U im --auth=trust --no-locale -E UTF8 --no-sync >/dev/null"))) {
    ADD_FAILURE() << "initdb failed:\n" << pg->Log();
    return nullptr;
  }
  if (!pg->Restart()) {
    ADD_FAILURE() << "PostgreSQL did not start:\n" << pg->Log();
    return nullptr;
  }
  return pg;
}

bool Postgres::Restart() {
  // fsync off: the tests stop the server (immediate), never the machine.
  std::string options = "-c listen_addresses='' -k " + dir_.path() +
                        " -c fsync=off -c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB";
  return Run(AsPostgres(bin_ + "/pg_ctl -D " + ShellQuote(dir_.File("data")) + " -l " + ShellQuote(dir_.File("server.log")) +
                        " -w -t 20 -o " + ShellQuote(options) + " start >/dev/null"));
}

bool Postgres::Stop(bool immediate) {
  return Run(AsPostgres(bin_ + "/pg_ctl -D " + ShellQuote(dir_.File("data")) + " -m " + (immediate ? "immediate" : "fast") +
                        " -w -t 20 stop >/dev/null"));
}

Postgres::~Postgres() {
  background_.clear();
  Stop(true);
}

// A generous connect timeout: a loaded test machine may take seconds for the schema.
std::string Postgres::Url(const std::string& db) const {
  return "postgresql://im@/" + db + "?host=" + dir_.path() + "&connect_timeout=10";
}

bool Postgres::CreateDatabase(const std::string& db) {
  if (Psql("postgres", "CREATE DATABASE " + db)) return true;
  ADD_FAILURE() << "CREATE DATABASE " << db << " failed:\n" << Log();
  return false;
}

bool Postgres::Psql(const std::string& db, const std::string& sql, std::string* out) {
  return Run(bin_ + "/psql -X -q -At -v ON_ERROR_STOP=1 " + ShellQuote("host=" + dir_.path() + " user=im dbname=" + db) +
                 " -c " + ShellQuote(sql),
             out);
}

void Postgres::PsqlInBackground(const std::string& db, const std::string& sql) {
  background_.push_back(Process::Start({bin_ + "/psql", "-X", "-q", "-At", "host=" + dir_.path() + " user=im dbname=" + db,
                                        "-c", sql},
                                       dir_.File("background.log")));
}

std::string Postgres::Log() const {
  std::string all;
  for (const char* name : {"commands.log", "server.log", "background.log"}) {
    std::ifstream in(dir_.File(name));
    std::stringstream ss;
    ss << in.rdbuf();
    all += std::string("--- ") + name + "\n" + ss.str();
  }
  return all;
}

}  // namespace im::test
