-- wrk script: GET one path with a login cookie taken in turn from a file of tokens, and
-- print one JSON line of results at the end (read by bench.py).
local tokens = {}
local n = 0
local i = 0
local path = os.getenv("BENCH_PATH") or "/generate/token"
local origin = os.getenv("BENCH_ORIGIN")
local auth = os.getenv("BENCH_AUTH")

local file = os.getenv("BENCH_TOKENS")
if file then
  for line in io.lines(file) do
    n = n + 1
    tokens[n] = line
  end
end

request = function()
  local headers = {}
  if n > 0 then
    i = i % n + 1
    headers["Cookie"] = "token=" .. tokens[i]
  end
  if origin then headers["Origin"] = origin end
  if auth then headers["Authorization"] = auth end
  return wrk.format("GET", path, headers)
end

done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors_status": %d, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_write": %d, "errors_timeout": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
