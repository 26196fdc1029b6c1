-- circuit fleet breaker: one atomic step of the fleet state machine (docs/fleet.md).
-- KEYS[1]  the breaker's hash (its name in a cluster hash tag: circuit:{name})
-- ARGV     see core/src/fleet/wire.rs (`SyncRequest::args`): the fleet options, then this
--          instance's deltas and probe verdicts since its last sync.
-- Returns  {"ok", epoch, state, open_remaining_ms, lease_ms, window_calls, window_failures,
--           window_slow, grant ids...} or {"mismatch", stored_fingerprint} or {"bad", why}.
-- Every deadline is kept in the store's time (TIME); what leaves the script is a remaining
-- duration, so no wall-clock instant crosses hosts.
local key = KEYS[1]
local a = ARGV
local fp = a[1]
local window_ms = tonumber(a[2])
local buckets = tonumber(a[3])
local min_calls = tonumber(a[4])
local rate = tonumber(a[5])
local slow_rate = tonumber(a[6])
local reset_ms = tonumber(a[7])
local max_reset_ms = tonumber(a[8])
local multiplier = tonumber(a[9])
local cap = tonumber(a[10])
local success_threshold = tonumber(a[11])
local lease_ms = tonumber(a[12])
local expiry_ms = tonumber(a[13])
local seen_epoch = tonumber(a[14])
local calls = tonumber(a[15])
local failures = tonumber(a[16])
local slow = tonumber(a[17])
local want = tonumber(a[18])
local nverdicts = tonumber(a[19])
if not (window_ms and buckets and min_calls and rate and slow_rate and reset_ms and max_reset_ms and multiplier
    and cap and success_threshold and lease_ms and expiry_ms and seen_epoch and calls and failures and slow
    and want and nverdicts) or buckets < 1 or window_ms < buckets or #a ~= 19 + 3 * nverdicts then
  return {"bad", "malformed arguments"}
end

local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local width = math.floor(window_ms / buckets)

local f = redis.call("HMGET", key, "fp", "epoch", "state", "open_until", "attempt", "succ", "next_id", "leases", "window")
local epoch, state, open_until, attempt, succ, next_id, leases_text, window_text
if not f[1] then
  epoch, state, open_until, attempt, succ, next_id, leases_text, window_text = 0, "closed", 0, 0, 0, 1, "", ""
elseif f[1] ~= fp then
  return {"mismatch", f[1]}
else
  epoch = tonumber(f[2]) or 0
  state = f[3] or "closed"
  open_until = tonumber(f[4]) or 0
  attempt = tonumber(f[5]) or 0
  succ = tonumber(f[6]) or 0
  next_id = tonumber(f[7]) or 1
  leases_text = f[8] or ""
  window_text = f[9] or ""
end

-- leases: id -> expiry (store ms); window: bucket index -> {calls, failures, slow}
local leases = {}
for id, exp in string.gmatch(leases_text, "(%d+):(%d+)") do leases[tonumber(id)] = tonumber(exp) end
local window = {}
for idx, c, fl, s in string.gmatch(window_text, "(%d+):(%d+):(%d+):(%d+)") do
  window[tonumber(idx)] = {tonumber(c), tonumber(fl), tonumber(s)}
end

-- A store that lost the breaker (a restart without persistence, FLUSHALL, eviction, an expired
-- key) while this instance had seen a later epoch: start again closed past every epoch an instance
-- has seen, so that no instance ignores the store as older. A newcomer (seen 0) changes nothing.
if seen_epoch > epoch then
  epoch = seen_epoch + 1
  state = "closed"
  open_until = 0
  attempt = 0
  succ = 0
  leases = {}
end

local function open_for(n)
  local d = reset_ms * (multiplier ^ n)
  if d > max_reset_ms then d = max_reset_ms end
  return math.floor(d)
end
local function enter(to)
  epoch = epoch + 1
  state = to
  leases = {}
  succ = 0
  if to ~= "closed" then window = {} end
end

-- Time-driven: open -> half_open once the open duration has passed.
if state == "open" and now >= open_until then enter("half_open") end
-- A lease that expired frees its probe slot (a hung or dead probe never wedges the fleet).
for id, exp in pairs(leases) do if exp <= now then leases[id] = nil end end

-- Probe verdicts count only in the epoch that granted them, for a lease still held.
for i = 0, nverdicts - 1 do
  local v_epoch = tonumber(a[20 + 3 * i])
  local v_id = tonumber(a[21 + 3 * i])
  local outcome = a[22 + 3 * i]
  if state == "half_open" and v_epoch == epoch and leases[v_id] then
    leases[v_id] = nil
    if outcome == "failure" then
      attempt = attempt + 1
      enter("open")
      open_until = now + open_for(attempt)
    elseif outcome == "success" then
      succ = succ + 1
      if succ >= success_threshold then
        attempt = 0
        enter("closed")
        window = {}
      end
    end
  end
end

-- Outcome deltas enter the window only if gathered in the current closed epoch.
local head = math.floor(now / width)
for idx, _ in pairs(window) do if idx <= head - buckets then window[idx] = nil end end
if state == "closed" and seen_epoch == epoch and calls > 0 then
  local b = window[head] or {0, 0, 0}
  window[head] = {b[1] + calls, b[2] + failures, b[3] + slow}
end
local wc, wf, ws = 0, 0, 0
for _, b in pairs(window) do wc = wc + b[1]; wf = wf + b[2]; ws = ws + b[3] end
if state == "closed" and wc >= min_calls and wc > 0 then
  if (rate >= 0 and wf / wc >= rate) or (slow_rate >= 0 and ws / wc >= slow_rate) then
    attempt = 0
    enter("open")
    open_until = now + open_for(0)
    wc, wf, ws = 0, 0, 0
  end
end

-- Probe grants: in half_open, at most `cap` probes out or succeeded per epoch.
local grants = {}
if state == "half_open" and want > 0 then
  local live = 0
  for _, _ in pairs(leases) do live = live + 1 end
  local free = cap - live - succ
  while free > 0 and want > 0 do
    leases[next_id] = now + lease_ms
    table.insert(grants, next_id)
    next_id = next_id + 1
    free = free - 1
    want = want - 1
  end
end

local parts = {}
for id, exp in pairs(leases) do table.insert(parts, id .. ":" .. exp) end
local wparts = {}
for idx, b in pairs(window) do table.insert(wparts, idx .. ":" .. b[1] .. ":" .. b[2] .. ":" .. b[3]) end
redis.call("HSET", key, "fp", fp, "epoch", epoch, "state", state, "open_until", open_until, "attempt", attempt,
  "succ", succ, "next_id", next_id, "leases", table.concat(parts, ","), "window", table.concat(wparts, ","))
redis.call("PEXPIRE", key, expiry_ms)

local remaining = 0
if state == "open" then remaining = open_until - now end
local reply = {"ok", epoch, state, remaining, lease_ms, wc, wf, ws}
for _, id in ipairs(grants) do table.insert(reply, id) end
return reply
