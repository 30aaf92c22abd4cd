---@meta luds.creds
-- LuaLS definitions of `require "luds.creds"` (lua/luds/creds.lua): admitting
-- the peer of a unix conn by the credentials the kernel recorded.
-- spec/annotations_spec.lua fails when an entry is missing here or stale.

---Who may connect; any other key raises.
---@class luds.creds.Policy
---@field users? (string|integer)[] user names or uids allowed
---@field groups? (string|integer)[] groups (names or gids) whose members are allowed

---Admits peers of unix and unixpacket conns by their kernel-checked credentials.
---@class luds.creds
local creds = {}

---Whether the peer's uid, or any of its groups, is allowed: true, or false and why.
---@param conn luds.Conn|luds.PacketConn
---@param policy luds.creds.Policy
---@return boolean allowed
---@return string? reason
function creds.allow(conn, policy) end

return creds
