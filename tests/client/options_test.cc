// The client's command line: what --tls checks the certificate against by default.
#include "client/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace im::client {
namespace {

// Parses argv after "im-client"; the exit code of ParseClientOptions.
int Parse(std::vector<std::string> args, ClientOptions* out) {
  args.insert(args.begin(), "im-client");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseClientOptions(static_cast<int>(args.size()), argv.data(), out);
}

std::string TlsNameFor(const std::string& server) {
  ClientOptions options;
  EXPECT_EQ(Parse({"--tls", "--server", server}, &options), 0) << server;
  return options.tls.name;
}

TEST(ClientOptions, TheTlsNameIsTheHostOfServerAsTheAddressParserSplitsIt) {
  EXPECT_EQ(TlsNameFor("127.0.0.1:1234"), "127.0.0.1");
  EXPECT_EQ(TlsNameFor("localhost:1234"), "localhost");
  EXPECT_EQ(TlsNameFor("[::1]:1234"), "::1");
  // A bare port connects to 127.0.0.1, so that is the name the certificate must carry
  // (it used to be checked against "1234").
  EXPECT_EQ(TlsNameFor("1234"), "127.0.0.1");
}

TEST(ClientOptions, ServerNameOverridesAndNeedsTls) {
  ClientOptions options;
  ASSERT_EQ(Parse({"--tls", "--server", "10.0.0.5:1234", "--server-name", "im.example"}, &options), 0);
  EXPECT_EQ(options.tls.name, "im.example");
  ClientOptions plain;
  EXPECT_EQ(Parse({"--server-name", "im.example"}, &plain), 2);
  ClientOptions bad;
  EXPECT_EQ(Parse({"--server", "[::1"}, &bad), 2) << "refused by the address parser";
}

}  // namespace
}  // namespace im::client
