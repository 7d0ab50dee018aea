-- wrk script for bench/bench.py. Configured by environment variables:
--   BENCH_METHOD   GET or POST (default GET)
--   BENCH_PATH     request path (with query)
--   BENCH_BODY     form body for POST (application/x-www-form-urlencoded)
--   BENCH_AUTH     value of the Authorization header, if any
--   BENCH_EXPECT   the one status every response must have (default 200)
--   BENCH_REFRESH  "1": refresh-token chaining. BENCH_BODY is the body without the token;
--                  each response's new refresh_token is used by a later request (rotation:
--                  a token is sent once, never again). Tokens are read from BENCH_TOKENS_IN
--                  (one a line) and those left at the end written to BENCH_TOKENS_OUT.
-- At the end one line "BENCHJSON {...}" carries the counts and latency percentiles.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local refresh = os.getenv("BENCH_REFRESH") == "1"

local headers = {}
if auth and auth ~= "" then headers["Authorization"] = auth end
if method == "POST" then headers["Content-Type"] = "application/x-www-form-urlencoded" end

wrk.method = method
wrk.path = path
wrk.headers = headers
if body and not refresh then wrk.body = body end

-- main state ------------------------------------------------------------------------------
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count - 1)
  table.insert(threads, thread)
end

-- thread state ----------------------------------------------------------------------------
unexpected = 0
statuses = {}
sample = ""
pool = {}
no_token = 0

function init(args)
  if refresh then
    local n = 0
    local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
    local f = assert(io.open(os.getenv("BENCH_TOKENS_IN"), "r"))
    for line in f:lines() do
      if line ~= "" then
        if n % nthreads == id then table.insert(pool, line) end
        n = n + 1
      end
    end
    f:close()
  end
end

if refresh then
  function request()
    local t = table.remove(pool)
    if not t then
      -- Every sent token comes back as a new one, so this happens only after errors.
      no_token = no_token + 1
      t = "exhausted"
    end
    return wrk.format("POST", path, headers, body .. "&refresh_token=" .. t)
  end
end

function response(status, hdrs, resp_body)
  if status ~= expect then
    unexpected = unexpected + 1
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
    if sample == "" then sample = k .. " " .. string.sub(resp_body or "", 1, 160) end
  end
  if refresh and status == 200 then
    local rt = string.match(resp_body, '"refresh_token"%s*:%s*"([^"]+)"')
    if rt then
      table.insert(pool, rt)
    else
      unexpected = unexpected + 1
      statuses["no_refresh_token"] = (statuses["no_refresh_token"] or 0) + 1
    end
  end
end

-- back in the main state --------------------------------------------------------------------
local function json_string(s)
  return '"' .. string.gsub(tostring(s), '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local total_unexpected, total_no_token, first_sample = 0, 0, ""
  local st = {}
  local out = nil
  if refresh then out = assert(io.open(os.getenv("BENCH_TOKENS_OUT"), "w")) end
  for _, thread in ipairs(threads) do
    total_unexpected = total_unexpected + (thread:get("unexpected") or 0)
    total_no_token = total_no_token + (thread:get("no_token") or 0)
    if first_sample == "" then first_sample = thread:get("sample") or "" end
    for k, v in pairs(thread:get("statuses") or {}) do st[k] = (st[k] or 0) + v end
    if out then
      for _, t in ipairs(thread:get("pool") or {}) do out:write(t, "\n") end
    end
  end
  if out then out:close() end
  local parts = {}
  for k, v in pairs(st) do table.insert(parts, json_string(k) .. ":" .. v) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"unexpected":%d,"no_token":%d,"statuses":{%s},"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,"sample":%s}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    total_unexpected, total_no_token, table.concat(parts, ","),
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max, json_string(first_sample)))
end
