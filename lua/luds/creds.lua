-- creds.allow(conn, policy): admits the peer of a unix or unixpacket conn by
-- the credentials the kernel recorded when it connected (SO_PEERCRED: its uid
-- and gid; SO_PEERGROUPS: its supplementary groups), never by anything the peer
-- says, nor by what the group database says its user may hold. Port of Allowed
-- ("Network Programming with Go", ch. 7), extended with a list of users.
local luds = require "luds"

local M = {}

-- The ids named by list (names or integer ids) as a set. A name is resolved
-- with lookup; an unknown name adds nothing, so it matches no peer.
local function id_set(list, what, lookup, field)
  local set = {}
  for i, v in ipairs(list or {}) do
    if math.type(v) == "integer" then
      set[v] = true
    elseif type(v) == "string" then
      local entry = lookup(v)
      if entry then set[entry[field]] = true end
    else
      error(("creds.allow: %s[%d] must be a name or an integer id, got %s"):format(what, i, type(v)), 3)
    end
  end
  return set
end

-- Whether the peer held a group of set when it connected: its gid or one of
-- its supplementary groups, the very groups the kernel checked the socket
-- file's mode against. A group its user is listed in but the process had
-- dropped does not count; one it held through setgroups(2) alone does. nil
-- and the message when the kernel cannot tell (peer_groups fails).
local function in_groups(conn, cred, set)
  if next(set) == nil then return false end
  if set[cred.gid] then return true end
  local groups, err = conn:peer_groups()
  if not groups then return nil, err end
  for _, gid in ipairs(groups) do
    if set[gid] then return true end
  end
  return false
end

-- Raises unless every key of policy is one of POLICY_KEYS (sorted): a misspelt
-- key (group for groups) would otherwise decide by a policy nobody wrote.
local POLICY_KEYS = { "groups", "users" }
local IS_POLICY_KEY = { groups = true, users = true }

local function check_keys(policy)
  for k in pairs(policy) do
    local what
    if type(k) ~= "string" then
      what = "policy keys must be strings, not " .. type(k)
    elseif not IS_POLICY_KEY[k] then
      what = ("unknown policy key '%s'"):format((k:gsub("%z", "\\0")))
    end
    if what then
      error(("creds.allow: %s; accepted: %s"):format(what, table.concat(POLICY_KEYS, ", ")), 3)
    end
  end
end

local function refusal(uid, policy)
  if not policy.users then return ("uid %d is not in an allowed group"):format(uid) end
  if not policy.groups then return ("uid %d is not an allowed user"):format(uid) end
  return ("uid %d is neither an allowed user nor in an allowed group"):format(uid)
end

-- policy = { users = { names or uids }, groups = { names or gids } }, either list
-- optional, any other key raises. Returns true if the peer's uid is a listed
-- user or the peer held a listed group when it connected; otherwise false and
-- a reason (also when peer_cred or peer_groups fails, with its message). In a
-- task the names are looked up on the worker pool (the task waits, the loop
-- goes on); outside one they block, as getpwnam does.
function M.allow(conn, policy)
  if type(policy) ~= "table" then
    error("creds.allow: policy must be a table { users = {...}, groups = {...} }", 2)
  end
  check_keys(policy)
  local users = id_set(policy.users, "users", luds.lookup_user, "uid")
  local groups = id_set(policy.groups, "groups", luds.lookup_group, "gid")
  local cred, err = conn:peer_cred()
  if not cred then return false, err end
  if users[cred.uid] then return true end
  local held, why = in_groups(conn, cred, groups)
  if held then return true end
  return false, why or refusal(cred.uid, policy)
end

return M
