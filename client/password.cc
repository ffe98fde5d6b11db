#include "client/password.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace im::client {

std::optional<std::string> GivenPassword(const ClientOptions& options, std::string* error) {
  if (!options.password_file.empty()) {
    std::ifstream in(options.password_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      *error = "cannot read --password-file " + options.password_file + ": " +
               (errno != 0 ? std::strerror(errno) : "empty file");
      return std::nullopt;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  if (const char* env = std::getenv("IM_PASSWORD"); env != nullptr) {
    std::string password(env);
    unsetenv("IM_PASSWORD");
    return password;
  }
  return std::nullopt;
}

}  // namespace im::client
