-- wrk script for benches/http/run.sh: every connection keeps its own
-- cookies, like a browser, and every fourth request adds an item to the cart.
--
-- wrk calls request() and response() in a per-thread Lua state and cannot
-- tell the connections of one thread apart, so run.sh starts one thread per
-- connection (-t N -c N): the state below is then the connection's.
-- A connection's first request carries no cookie: the server creates the
-- session; later requests send back what the responses set.

local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local cookies = {}
local cookie_header = nil
local sent = 0

function request()
  sent = sent + 1
  local path = "/cart"
  if sent % 4 == 0 then
    -- A SKU no other connection uses.
    path = "/cart?add=" .. tostring(id * 100000000 + sent)
  end
  local headers = {}
  if cookie_header then
    headers["Cookie"] = cookie_header
  end
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  local set_cookie = headers["set-cookie"] or headers["Set-Cookie"]
  if set_cookie then
    local name, value = set_cookie:match("^%s*([^=;%s]+)=([^;]*)")
    if name then
      cookies[name] = value
      local pairs_ = {}
      for n, v in pairs(cookies) do
        pairs_[#pairs_ + 1] = n .. "=" .. v
      end
      cookie_header = table.concat(pairs_, "; ")
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.1f "
      .. "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
