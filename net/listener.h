// A listening TCP socket. It only binds (or adopts a socket from systemd), listens and
// tells its owner a connection is waiting; the owner decides to accept it
// (TcpStream::Accept on stream()) or to leave it waiting: libuv then stops watching the
// socket until the next accept, and the kernel's backlog holds new clients meanwhile, so
// a full daemon neither spins nor drops anyone (Resume() takes the waiting one later).
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "net/handle.h"

namespace im::net {

class Listener {
 public:
  class Owner {
   public:
    // A connection waits: accept it now, or return without and call Resume() later.
    virtual void OnIncoming() = 0;

   protected:
    ~Owner() = default;
  };

  Listener(uv_loop_t* loop, Owner& owner);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens (inherited_fd >= 0: adopts that listening socket instead). On
  // failure *error is "listen tcp ADDR: reason".
  bool Listen(const sockaddr* addr, int inherited_fd, std::string* error);
  int LocalPort() const;
  uv_stream_t* stream() { return AsStream(tcp_.get()); }

  // The owner left a connection waiting (it is full).
  void Pause() { paused_ = true; }
  // Room again: hands the waiting connection (if any) to OnIncoming at once.
  void Resume();
  bool paused() const { return paused_; }
  void Close();
  uint64_t accept_errors() const { return accept_errors_; }

 private:
  static void OnConnection(uv_stream_t* server, int status) noexcept;
  bool closed() const { return tcp_.closed(); }

  Owner& owner_;
  OwnedHandle<uv_tcp_t> tcp_;
  bool paused_ = false;
  uint64_t accept_errors_ = 0;
};

}  // namespace im::net
