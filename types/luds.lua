---@meta luds
-- LuaLS (lua-language-server) definitions of `require "luds"`: every function
-- of the module, every method of every object kind and every options table.
-- Point LuaLS's workspace.library at this directory (doc/testing.md: Editor support).
-- spec/annotations_spec.lua fails when an entry is missing here or stale.
-- Failures return the triple nil, message, code: modelled as optional returns.
-- An @overload stays on one line, however long: LuaLS reads it so.

---A code that names a failure: an errno name (ENOENT, EADDRINUSE, ...) or one of luds's own.
---@alias luds.ErrorCode
---| "EOF" # end of stream
---| "TIMEOUT" # a deadline passed; the object stays usable
---| "CLOSED" # the object was closed (before or during the call)
---| "BUSY" # another task is already reading (or writing) this socket
---| "TRUNCATED" # a packet was longer than max
---| "UNKNOWN_USER" # no such user name or id
---| "UNKNOWN_GROUP" # no such group name or id
---| "ENOENT"
---| "EADDRINUSE"
---| "ECONNREFUSED"
---| "EACCES"
---| "EPIPE"
---| "EMSGSIZE"
---| "ENAMETOOLONG"
---| "EINVAL"
---| "EEXIST"
---| "ENOTSOCK"
---| "EISCONN"
---| string # any other errno name

---Connection networks whose conns are byte streams.
---@alias luds.StreamNetwork "unix"|"tcp"|"tcp4"|"tcp6"

---Datagram networks (luds.listen_packet).
---@alias luds.PacketNetwork "unixgram"|"udp"|"udp4"|"udp6"

---Every network: "unixpacket" is a connection network whose conns keep message boundaries.
---@alias luds.Network luds.StreamNetwork|luds.PacketNetwork|"unixpacket"

---Signals luds.on_signal can handle.
---@alias luds.Signal "INT"|"TERM"|"HUP"|"QUIT"|"USR1"|"USR2"|"WINCH"|"ALRM"

---What task:status() says.
---@alias luds.TaskStatus "ready"|"running"|"waiting"|"done"|"failed"|"cancelled"

---What a path is, as luds.stat says.
---@alias luds.FileType "socket"|"file"|"directory"|"symlink"|"fifo"|"char"|"block"|"unknown"

---A luds socket of any kind (a descriptor-holding object).
---@alias luds.Socket luds.Listener|luds.Conn|luds.PacketConn

---One case of luds.select: `{ "recv", ch }` or `{ "send", ch, v }`.
---@alias luds.SelectCase
---| { [1]: "recv", [2]: luds.Channel }
---| { [1]: "send", [2]: luds.Channel, [3]: any }

---Options of luds.listen; any other key raises.
---@class luds.ListenOptions
---@field backlog? integer listen backlog (default 4096)
---@field mode? string|integer socket file mode: "0660", "660" or tonumber("660", 8)
---@field owner? integer|string the socket file's owner: a uid or a user name
---@field group? integer|string the socket file's group: a gid or a group name
---@field remove_stale? boolean first remove a socket file at the path that nobody listens on
---@field reuseport? boolean SO_REUSEPORT: sockets share one address (IP networks only)
---@field proxy? boolean|"v1"|"v2" read a PROXY protocol header first (true: either version)
---@field proxy_timeout? number seconds a PROXY header may take to come whole (default 5)

---Options of luds.listen_packet; any other key raises.
---@class luds.ListenPacketOptions
---@field mode? string|integer socket file mode: "0660", "660" or tonumber("660", 8)
---@field owner? integer|string the socket file's owner: a uid or a user name
---@field group? integer|string the socket file's group: a gid or a group name
---@field remove_stale? boolean first remove a socket file at the path that nobody listens on
---@field unlink_on_close? boolean remove the socket file on close (kept by default)
---@field passcred? boolean read_from also gives the sender's { pid, uid, gid } (unix only)
---@field reuseport? boolean SO_REUSEPORT: sockets share one address (IP networks only)

---Options of luds.dial; any other key raises.
---@class luds.DialOptions
---@field timeout? number seconds to wait for the connection; 0 or nil: no timeout; negative raises
---@field local_address? string the address to bind before connecting

---Where a child's standard stream goes: "inherit" (default), "null", "pipe" (a stream conn on
---p.stdin...), a luds socket or an fd; for stderr also "stdout" (2>&1).
---@alias luds.Stdio "inherit"|"null"|"pipe"|"stdout"|luds.Socket|integer

---Options of luds.exec; any other key raises.
---@class luds.ExecOptions
---@field env? table<string, string> the child's whole environment (extend luds.environ())
---@field cwd? string the directory the child starts in
---@field stdin? luds.Stdio
---@field stdout? luds.Stdio
---@field stderr? luds.Stdio
---@field extra_fds? (integer|luds.Socket)[] descriptors that become the child's fds 3, 4, ...

---Options of luds.output; any other key raises.
---@class luds.OutputOptions
---@field env? table<string, string> the child's whole environment (extend luds.environ())
---@field cwd? string the directory the child starts in
---@field stdin? luds.Stdio
---@field stderr? luds.Stdio default: read into output's second result
---@field extra_fds? (integer|luds.Socket)[] descriptors that become the child's fds 3, 4, ...
---@field input? string fed to the child's stdin (not with stdin)
---@field timeout? number seconds; then the child is killed and output returns TIMEOUT

---Options of luds.workers; any other key raises.
---@class luds.WorkersOptions
---@field listen fun(): (luds.Listener|luds.PacketConn)[] the listeners (supervisor only, once)
---@field n? integer how many workers, 1 to 1024 (default: LUDS_WORKERS, else one per CPU)
---@field serve? fun(conn: luds.Conn) each worker runs luds.server on every listener with it
---@field drain? number seconds a worker may drain after SIGTERM (default 10)
---@field start_timeout? number seconds a reload waits for the new workers (default 10)

---Options of luds.serve and luds.server; any other key raises.
---@class luds.ServeOptions
---@field max_conns? integer accept waits while that many handlers run

---Options of luds.select; any other key raises.
---@class luds.SelectOptions
---@field timeout? number seconds to wait at most (then the TIMEOUT triple); negative: none
---@field default? boolean return 0 at once when no case is ready

---Credentials of a peer process, vouched for by the kernel.
---@class luds.Cred
---@field pid integer
---@field uid integer
---@field gid integer

---What luds.stat says of a path (lstat).
---@class luds.Stat
---@field type luds.FileType
---@field mode string permission bits in octal, e.g. "0660"
---@field uid integer
---@field gid integer
---@field dev integer
---@field ino integer
---@field size integer

---The PROXY protocol header a conn came with (conn:proxied()).
---@class luds.ProxyHeader
---@field version 1|2
---@field command "PROXY"|"LOCAL"
---@field net? string the original network: tcp4, tcp6, udp4, udp6, unix or unixgram
---@field src? string the original client's address
---@field dst? string the address the client connected to
---@field tlvs luds.ProxyTLV[] v2 TLVs, raw

---One v2 TLV of a PROXY header (ALPN is type 1, authority 2, unique id 5, ...).
---@class luds.ProxyTLV
---@field type integer
---@field value string

---Who this worker is (luds.worker()).
---@class luds.WorkerInfo
---@field index integer 1 to count
---@field count integer how many workers
---@field generation integer 1, then one more per reload (SIGHUP)
---@field supervisor integer the supervisor's pid

---A user database entry.
---@class luds.UserInfo
---@field uid integer
---@field gid integer the primary group
---@field name string
---@field home string
---@field shell string

---A group database entry.
---@class luds.GroupInfo
---@field gid integer
---@field name string
---@field members string[] user names

---Unix domain sockets of all three kinds, TCP and UDP, tasks on an epoll loop.
---@class luds
---@field version string the runtime's version, e.g. "0.1.0"
local luds = {}

---A listener from luds.listen (unix, unixpacket, tcp*); closing it removes its socket file.
---@class luds.Listener
---@field kind "listener"
local Listener = {}

---Waits for the next connection (a packet conn on unixpacket listeners: see luds.PacketListener).
---@return luds.Conn? conn
---@return string? err
---@return luds.ErrorCode? code
function Listener:accept() end

---The address it listens on (the path, `@name` or `host:port`).
---@return string? addr
---@return string? err
---@return luds.ErrorCode? code
function Listener:addr() end

---Closes it (removing its socket file if it is still the one it bound) and wakes its waiters with
---CLOSED.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Listener:close() end

---The file descriptor (-1 once closed).
---@return integer fd
function Listener:fd() end

---Sets the accept deadline, an absolute time on the luds.now() clock; nil clears it.
---@param t? number
---@return true
function Listener:set_deadline(t) end

---The same as close: for `local ln <close> = ...`.
function Listener:__close() end

---`unix listener /tmp/e.sock`, with "(closed)" once closed.
---@return string
function Listener:__tostring() end

---A unixpacket listener: what it accepts are packet conns.
---@class luds.PacketListener: luds.Listener
local PacketListener = {}

---Waits for the next connection.
---@return luds.PacketConn? conn
---@return string? err
---@return luds.ErrorCode? code
function PacketListener:accept() end

---A stream conn (unix, tcp*): from luds.dial or ln:accept().
---@class luds.Conn
---@field kind "conn"
local Conn = {}

---Up to max bytes (default 65536) as they come; nil, "EOF", "EOF" at the end of the stream.
---@param max? integer
---@return string? data
---@return string? err
---@return luds.ErrorCode? code
function Conn:read(max) end

---Exactly n bytes; bytes that came before an error stay buffered for the next read.
---@param n integer
---@return string? data
---@return string? err
---@return luds.ErrorCode? code
function Conn:read_full(n) end

---The next line without its "\n"; a last unterminated line as it is; at most 1 MiB (EMSGSIZE).
---@return string? line
---@return string? err
---@return luds.ErrorCode? code
function Conn:read_line() end

---Writes all of data (waiting as long as it must); on failure a 4th value tells how many bytes
---went.
---@param data string
---@return integer? written
---@return string? err
---@return luds.ErrorCode? code
---@return integer? written_before
function Conn:write(data) end

---Closes it and wakes its waiters with CLOSED.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Conn:close() end

---Shuts down the sending side: the peer reads EOF.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Conn:close_write() end

---Shuts down the receiving side.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Conn:close_read() end

---This end's address ("" when unnamed).
---@return string? addr
---@return string? err
---@return luds.ErrorCode? code
function Conn:local_addr() end

---The peer's address ("" when unnamed).
---@return string? addr
---@return string? err
---@return luds.ErrorCode? code
function Conn:remote_addr() end

---Sets the read and write deadlines (absolute, on the luds.now() clock); nil clears them.
---@param t? number
---@return true
function Conn:set_deadline(t) end

---Sets the read deadline (absolute, on the luds.now() clock); nil clears it.
---@param t? number
---@return true
function Conn:set_read_deadline(t) end

---Sets the write deadline (absolute, on the luds.now() clock); nil clears it.
---@param t? number
---@return true
function Conn:set_write_deadline(t) end

---The peer process's { pid, uid, gid } as the kernel recorded it at connect (unix sockets).
---@return luds.Cred? cred
---@return string? err
---@return luds.ErrorCode? code
function Conn:peer_cred() end

---The supplementary groups the peer process held at connect, from SO_PEERGROUPS (unix sockets).
---@return integer[]? gids
---@return string? err
---@return luds.ErrorCode? code
function Conn:peer_groups() end

---The PROXY protocol header it came with (a `proxy` listener's conns), false for other conns.
---@return luds.ProxyHeader|false|nil header
---@return string? err
---@return luds.ErrorCode? code
function Conn:proxied() end

---The file descriptor (-1 once closed).
---@return integer fd
function Conn:fd() end

---Sends data with descriptors (at most 253; numbers or luds sockets) attached to its first bytes
---(unix sockets).
---@param data string
---@param fds (integer|luds.Socket)[]
---@return integer? written
---@return string? err
---@return luds.ErrorCode? code
---@return integer? written_before
function Conn:send_fds(data, fds) end

---One read and the descriptors that came with it (the script owns them); a 3rd value true when more
---than max_fds came.
---@param max? integer
---@param max_fds? integer
---@return string? data
---@return integer[]|string|nil fds the descriptors, or the message on failure
---@return luds.ErrorCode|true|nil code_or_cut
function Conn:recv_fds(max, max_fds) end

---The same as close: for `local c <close> = ...`.
function Conn:__close() end

---`unix conn -> /tmp/e.sock`, with "(closed)" once closed.
---@return string
function Conn:__tostring() end

---A packet conn: from luds.listen_packet (unixgram, udp*), or a unixpacket or datagram dial or
---accept.
---@class luds.PacketConn
---@field kind "packet conn"
local PacketConn = {}

---One message, the whole of it when max is omitted; longer than max: nil, msg, "TRUNCATED", part.
---@param max? integer
---@return string? data
---@return string? err
---@return luds.ErrorCode? code
---@return string? part
function PacketConn:read(max) end

---One message and its sender's address (and { pid, uid, gid } with passcred).
---@param max? integer
---@return string? data
---@return string? addr_or_err
---@return luds.Cred|luds.ErrorCode|nil cred_or_code
---@return string? part
---@return string? part_addr
function PacketConn:read_from(max) end

---Sends data as one message, all or nothing.
---@param data string
---@return integer? written
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:write(data) end

---Sends data as one message to addr; waits while the receiver's queue is full (EISCONN on a dialed
---conn).
---@param data string
---@param addr string
---@return integer? written
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:write_to(data, addr) end

---Closes it and wakes its waiters with CLOSED.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:close() end

---Shuts down the sending side (unixpacket: the peer reads EOF).
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:close_write() end

---Shuts down the receiving side.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:close_read() end

---This end's address ("" when unnamed, `@...` when autobound).
---@return string? addr
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:local_addr() end

---The peer's address ("" when unconnected or unnamed).
---@return string? addr
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:remote_addr() end

---Sets the read and write deadlines (absolute, on the luds.now() clock); nil clears them.
---@param t? number
---@return true
function PacketConn:set_deadline(t) end

---Sets the read deadline (absolute, on the luds.now() clock); nil clears it.
---@param t? number
---@return true
function PacketConn:set_read_deadline(t) end

---Sets the write deadline (absolute, on the luds.now() clock); nil clears it.
---@param t? number
---@return true
function PacketConn:set_write_deadline(t) end

---The peer process's { pid, uid, gid } as the kernel recorded it at connect (unixpacket).
---@return luds.Cred? cred
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:peer_cred() end

---The supplementary groups the peer process held at connect, from SO_PEERGROUPS (unix sockets).
---@return integer[]? gids
---@return string? err
---@return luds.ErrorCode? code
function PacketConn:peer_groups() end

---The file descriptor (-1 once closed).
---@return integer fd
function PacketConn:fd() end

---Sends data as one message with descriptors (at most 253; numbers or luds sockets) attached (unix
---sockets).
---@param data string
---@param fds (integer|luds.Socket)[]
---@return integer? written
---@return string? err
---@return luds.ErrorCode? code
---@return integer? written_before
function PacketConn:send_fds(data, fds) end

---One message and the descriptors that came with it (the script owns them); a 3rd value true when
---more than max_fds came.
---@param max? integer
---@param max_fds? integer
---@return string? data
---@return integer[]|string|nil fds the descriptors, or the message on failure
---@return luds.ErrorCode|true|nil code_or_cut
function PacketConn:recv_fds(max, max_fds) end

---The same as close: for `local pc <close> = ...`.
function PacketConn:__close() end

---`unixgram packet conn /tmp/g.sock`, with "(closed)" once closed.
---@return string
function PacketConn:__tostring() end

---A task: a coroutine run by the scheduler (luds.spawn).
---@class luds.Task
local Task = {}

---Waits for it to end: true, results...; false, err if it raised or was cancelled; the TIMEOUT
---triple.
---@param timeout? number seconds
---@return boolean? ok
---@return any ... its results, its error, or the message
function Task:wait(timeout) end

---Ends a live task (its `<close>` variables are closed): true; false if it had ended.
---@return boolean cancelled
function Task:cancel() end

---Where it is: "ready", "running", "waiting", "done", "failed" or "cancelled".
---@return luds.TaskStatus
function Task:status() end

---`task 0x... (ready)`.
---@return string
function Task:__tostring() end

---A channel (luds.channel): capacity 0 is a rendezvous; `#ch` is how many values are buffered.
---@class luds.Channel
---@operator len: integer
local Channel = {}

---Sends v: true once it is taken or buffered; the CLOSED triple on a closed channel.
---@param v any
---@param timeout? number seconds
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Channel:send(v, timeout) end

---Receives: true, v (any value, nil and false too); the CLOSED triple once closed and drained.
---@param timeout? number seconds
---@return true? ok
---@return any value_or_err
---@return luds.ErrorCode? code
function Channel:recv(timeout) end

---Sends without waiting: true, false if it would wait, or the CLOSED triple.
---@param v any
---@return boolean? ok
---@return string? err
---@return luds.ErrorCode? code
function Channel:try_send(v) end

---Receives without waiting: true, v; false if it would wait; or the CLOSED triple.
---@return boolean? ok
---@return any value_or_err
---@return luds.ErrorCode? code
function Channel:try_recv() end

---Closes it: buffered values still drain; waiting receivers and senders wake with CLOSED.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Channel:close() end

---An iterator receiving until the channel is closed and drained: `for v in ch:values() do`.
---@return fun(): any
function Channel:values() end

---Its capacity.
---@return integer
function Channel:capacity() end

---`channel 0x... (1/4[, closed])`.
---@return string
function Channel:__tostring() end

---An event (luds.event): once set, it stays set until cleared.
---@class luds.Event
local Event = {}

---Waits until it is set: true, or the TIMEOUT triple.
---@param timeout? number seconds
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Event:wait(timeout) end

---Sets it and wakes every waiter.
---@return true
function Event:set() end

---Clears it.
---@return true
function Event:clear() end

---Whether it is set.
---@return boolean
function Event:is_set() end

---`event 0x... (clear)`.
---@return string
function Event:__tostring() end

---A condition variable (luds.cond); no mutex: tasks switch only at blocking calls.
---@class luds.Cond
local Cond = {}

---Waits for a signal or broadcast: true, or the TIMEOUT triple.
---@param timeout? number seconds
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Cond:wait(timeout) end

---Wakes the first waiter: true if there was one.
---@return boolean
function Cond:signal() end

---Wakes every waiter; returns how many.
---@return integer
function Cond:broadcast() end

---`cond 0x...`.
---@return string
function Cond:__tostring() end

---A counting semaphore (luds.semaphore).
---@class luds.Semaphore
local Semaphore = {}

---Takes a permit: returned by permit:release(), `<close>` or collection; or the TIMEOUT triple.
---@param timeout? number seconds
---@return luds.Permit? permit
---@return string? err
---@return luds.ErrorCode? code
function Semaphore:acquire(timeout) end

---Adds a permit (for counting without permit objects).
---@return true
function Semaphore:release() end

---How many permits are free.
---@return integer
function Semaphore:available() end

---`semaphore 0x... (1 available)`.
---@return string
function Semaphore:__tostring() end

---A permit from sem:acquire(): returned once, by release, `<close>` or collection.
---@class luds.Permit
local Permit = {}

---Returns the permit: true if it was held.
---@return boolean
function Permit:release() end

---Returns the permit if held: for `local p <close> = sem:acquire()`.
function Permit:__close() end

---`permit 0x... (held)`.
---@return string
function Permit:__tostring() end

---A task group (luds.group): the first child's error cancels the others.
---@class luds.Group
local Group = {}

---Spawns fn(...) as a child task of the group.
---@param fn function
---@param ... any
---@return luds.Task
function Group:spawn(fn, ...) end

---Waits for every child: true; false, err with the first child's error; or the TIMEOUT triple.
---@param timeout? number seconds
---@return boolean? ok
---@return any err
---@return luds.ErrorCode? code
function Group:wait(timeout) end

---Cancels every child.
---@return true
function Group:cancel() end

---Waits for the children, or cancels them first when the scope is left by an error.
function Group:__close() end

---`group 0x... (0 running)`.
---@return string
function Group:__tostring() end

---A child process (luds.exec), watched by the loop until it is reaped.
---@class luds.Process
---@field pid integer
---@field stdin luds.Conn? the pipe to its stdin (nil unless "pipe")
---@field stdout luds.Conn? the pipe from its stdout (nil unless "pipe")
---@field stderr luds.Conn? the pipe from its stderr (nil unless "pipe")
local Process = {}

---Waits for it to end: the exit status 0-255; nil, msg, "SIGNALED", signo; the TIMEOUT triple.
---Any number of tasks may wait; the result stays.
---@param timeout? number seconds
---@return integer? status
---@return string? err
---@return luds.ErrorCode|"SIGNALED"|nil code
---@return integer? signo
function Process:wait(timeout) end

---Sends a signal by name ("TERM", "SIGKILL") or number (default TERM) through its pidfd.
---@param sig? string|integer
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Process:kill(sig) end

---`process 1234 sleep (running)`, `(exit 0)`, `(signal 9)`.
---@return string
function Process:__tostring() end

---A server handle (luds.server), like Go's http.Server.
---@class luds.Server
local Server = {}

---Accepts until the listener is closed (then true), one task per conn; nil, msg, code on another
---accept error.
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function Server:serve() end

---How many handlers are running.
---@return integer
function Server:active() end

---Stops accepting, waits up to timeout seconds (nil: as long as it takes) for handlers, cancels the
---rest: true, or false, cancelled.
---@param timeout? number
---@return boolean finished
---@return integer? cancelled
function Server:shutdown(timeout) end

---A listener (unix, unixpacket, tcp*); options: backlog, mode, owner, group, remove_stale.
---@param network luds.StreamNetwork
---@param address string a path, `@name`, or `host:port` / `[v6]:port`
---@param opts? luds.ListenOptions
---@return luds.Listener? ln
---@return string? err
---@return luds.ErrorCode? code
---@overload fun(network: "unixpacket", address: string, opts?: luds.ListenOptions): luds.PacketListener?, string?, luds.ErrorCode?
function luds.listen(network, address, opts) end

---A packet conn bound to address (unixgram, udp*).
---@param network luds.PacketNetwork
---@param address string a path, `@name`, `""` (autobind) or `host:port`
---@param opts? luds.ListenPacketOptions
---@return luds.PacketConn? pc
---@return string? err
---@return luds.ErrorCode? code
function luds.listen_packet(network, address, opts) end

---A conn (stream networks) or packet conn (unixpacket, unixgram, udp*) connected to address.
---@param network luds.StreamNetwork
---@param address string
---@param opts? luds.DialOptions
---@return luds.Conn? conn
---@return string? err
---@return luds.ErrorCode? code
---@overload fun(network: luds.PacketNetwork|"unixpacket", address: string, opts?: luds.DialOptions): luds.PacketConn?, string?, luds.ErrorCode?
function luds.dial(network, address, opts) end

---A listener, conn or packet conn that takes over fd (its network told by the socket; a pipe,
---FIFO, terminal or character device is a stream conn); on failure fd stays the caller's.
---@param fd integer
---@return luds.Socket? socket
---@return string? err
---@return luds.ErrorCode? code
function luds.wrap(fd) end

---The sockets a service manager passed (LISTEN_FDS...), wrapped: list in fd order, and by name.
---@return luds.Socket[]? list
---@return table<string, luds.Socket[]>|string|nil names_or_err
---@return luds.ErrorCode? code
function luds.listeners_from_env() end

---Copies from stream conn src to dst until src ends (Go's io.Copy), in C; on failure a 4th value
---tells how many went.
---@param dst luds.Conn
---@param src luds.Conn
---@return integer? copied
---@return string? err
---@return luds.ErrorCode? code
---@return integer? copied_before
function luds.copy(dst, src) end

---Closes a received descriptor the script does not want (raises for one luds owns).
---@param fd integer
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function luds.close_fd(fd) end

---Starts argv[1] (searched in PATH without a slash) with argv[2..], never through a shell.
---@param argv string[]
---@param opts? luds.ExecOptions
---@return luds.Process? process
---@return string? err
---@return luds.ErrorCode? code
function luds.exec(argv, opts) end

---Runs argv to its end, reading stdout and stderr concurrently (Go's Output): stdout, stderr,
---status; or the failures of exec and wait.
---@param argv string[]
---@param opts? luds.OutputOptions
---@return string? stdout
---@return string? stderr_or_err
---@return integer|luds.ErrorCode|"SIGNALED"|nil status_or_code
---@return integer? signo
function luds.output(argv, opts) end

---This process's environment as a table.
---@return table<string, string>
function luds.environ() end

---A stream conn on this process's fd 0, read without blocking the loop; closing it leaves fd 0
---open.
---@return luds.Conn? conn
---@return string? err
---@return luds.ErrorCode? code
function luds.stdin() end

---A stream conn on this process's fd 1, written without blocking the loop; closing it leaves fd 1
---open.
---@return luds.Conn? conn
---@return string? err
---@return luds.ErrorCode? code
function luds.stdout() end

---A stream conn on this process's fd 2, written without blocking the loop; closing it leaves fd 2
---open.
---@return luds.Conn? conn
---@return string? err
---@return luds.ErrorCode? code
function luds.stderr() end

---Runs the server on every core: in the supervisor it supervises N workers until stopped, then
---exits (or returns the failure of listen); in a worker it returns who it is and its listeners
---(or serves them for ever with opts.serve).
---@param opts luds.WorkersOptions
---@return luds.WorkerInfo? worker
---@return (luds.Listener|luds.PacketConn)[]|string|nil listeners_or_err
---@return luds.ErrorCode? code
function luds.workers(opts) end

---In a worker: who it is; elsewhere nil.
---@return luds.WorkerInfo?
function luds.worker() end

---A new task running fn(...); it starts on the next scheduler pass.
---@param fn function
---@param ... any
---@return luds.Task
function luds.spawn(fn, ...) end

---Suspends the task for seconds; luds.sleep(0) lets the others run.
---@param seconds number
function luds.sleep(seconds) end

---How long the loop polls before it sleeps while recent waits were short, in microseconds (0 to
---1000; 50 by default; 0: never); returns the setting before. LUDS_SPIN_US sets it at start.
---@param microseconds? integer
---@return integer before
function luds.spin(microseconds) end

---Monotonic seconds (the clock of deadlines).
---@return number
function luds.now() end

---In a task: spawn and wait; outside (stock lua5.4, a host): runs the loop until every task has
---ended, then returns like wait.
---@param fn function
---@param ... any
---@return boolean? ok
---@return any ... fn's results, or its error
function luds.run(fn, ...) end

---Closes every listener (removing its file) and ends the process with code (default 0).
---@param code? integer
function luds.exit(code) end

---fn(name) runs as a new task on each such signal instead of the default; nil restores the default.
---@param name luds.Signal
---@param fn? fun(name: luds.Signal)
---@return true
function luds.on_signal(name, fn) end

---fn(task, message, err) runs as a new task for each task that fails, instead of printing; nil
---restores the default. Returns the previous handler.
---@param fn? fun(task: luds.Task, message: string, err: any)
---@return fun(task: luds.Task, message: string, err: any)? previous
function luds.on_error(fn) end

---Every task that has not ended, the caller's included, in no particular order.
---@return luds.Task[]
function luds.tasks() end

---Accepts forever, one task per conn running handler(conn) (closed when it returns); true once ln
---is closed.
---@param ln luds.Listener
---@param handler fun(conn: luds.Conn)
---@param opts? luds.ServeOptions
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function luds.serve(ln, handler, opts) end

---A server handle: srv:serve(), srv:active(), srv:shutdown([timeout]).
---@param ln luds.Listener
---@param handler fun(conn: luds.Conn)
---@param opts? luds.ServeOptions
---@return luds.Server
function luds.server(ln, handler, opts) end

---A channel; capacity 0 (default) is a rendezvous, n > 0 buffers up to n.
---@param capacity? integer
---@return luds.Channel
function luds.channel(capacity) end

---Fires exactly one ready case (chosen uniformly): its index, then what its send/recv returns; 0
---with default; the TIMEOUT triple.
---@param cases luds.SelectCase[]
---@param opts? luds.SelectOptions
---@return integer? index
---@return any ... the case's results, or the message and code
function luds.select(cases, opts) end

---An event: ev:wait([timeout]), ev:set(), ev:clear(), ev:is_set().
---@return luds.Event
function luds.event() end

---A condition variable: cv:wait([timeout]), cv:signal(), cv:broadcast().
---@return luds.Cond
function luds.cond() end

---A semaphore with n permits: sem:acquire([timeout]) -> permit.
---@param n integer
---@return luds.Semaphore
function luds.semaphore(n) end

---A task group: g:spawn(fn, ...), g:wait([timeout]), g:cancel(); `<close>` waits for the children.
---@return luds.Group
function luds.group() end

---Changes a file's mode; follows a symlink, like chmod(2).
---@param path string
---@param mode string|integer "0660", "660" or tonumber("660", 8)
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function luds.chmod(path, mode) end

---Changes a file's owner and group; follows a symlink and -1 keeps an id, like Go's os.Chown.
---@param path string
---@param uid_or_name integer|string
---@param gid_or_name integer|string
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function luds.chown(path, uid_or_name, gid_or_name) end

---{ type, mode = "0660", uid, gid, dev, ino, size } of path (lstat: a symlink is not followed).
---@param path string
---@return luds.Stat? stat
---@return string? err
---@return luds.ErrorCode? code
function luds.stat(path) end

---{ uid, gid, name, home, shell } of a user.
---@param name_or_uid string|integer
---@return luds.UserInfo? user
---@return string? err
---@return luds.ErrorCode? code
function luds.lookup_user(name_or_uid) end

---{ gid, name, members = { names } } of a group.
---@param name_or_gid string|integer
---@return luds.GroupInfo? group
---@return string? err
---@return luds.ErrorCode? code
function luds.lookup_group(name_or_gid) end

---{ gid, ... }: a user's primary group, then every supplementary one.
---@param name_or_uid string|integer
---@return integer[]? gids
---@return string? err
---@return luds.ErrorCode? code
function luds.user_groups(name_or_uid) end

---Removes path if it is a socket nobody listens on: true; EADDRINUSE for a live socket, ENOTSOCK
---for anything else.
---@param path string
---@return true? ok
---@return string? err
---@return luds.ErrorCode? code
function luds.remove_stale(path) end

---Resolves a host name (or host:port) off the loop with getaddrinfo: the addresses as strings, bare
---IPs for a bare host, "ip:port" for host:port; ENOTFOUND for an unknown host.
---@param address string
---@param network? string
---@param timeout? number
---@return string[]? addresses
---@return string? err
---@return luds.ErrorCode? code
function luds.resolve(address, network, timeout) end

return luds
