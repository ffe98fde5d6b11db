// Where a password comes from when it is not typed at a prompt: the IM_PASSWORD
// environment variable or the first line of --password-file. Never the command line,
// which every user of the machine can read in ps.
#pragma once

#include <optional>
#include <string>

#include "client/options.h"

namespace im::client {

// The password given by file (first) or environment, nullopt if neither is set. The
// variable is removed from the environment once read, so no child inherits it. On a file
// that cannot be read, nullopt and *error says why.
std::optional<std::string> GivenPassword(const ClientOptions& options, std::string* error);

}  // namespace im::client
