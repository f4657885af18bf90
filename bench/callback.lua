-- wrk: POST signed callbacks, rotating over the prepared tasks; every body is unique.
-- BENCH_PAIRS: file of "path upstream_id" lines; BENCH_TEMPLATE: the body with %s slots;
-- BENCH_THREADS: wrk's -t; BENCH_TAG: makes bodies unique across runs on the same store;
-- BENCH_OFFSET: the request number to start at (after a warm-up on the same store).
-- Tasks go in blocks: each of a block's tasks gets its running callback, then each its
-- succeeded one, so every stretch of a second or more has the same mix of the two (as
-- loadgen.py's task_and_state); later callbacks are history.

local paths, ids = {}, {}
for line in io.lines(os.getenv("BENCH_PAIRS")) do
  local path, id = line:match("^(%S+)%s+(%S+)$")
  paths[#paths + 1] = path
  ids[#ids + 1] = id
end
local n = #paths
local template = os.getenv("BENCH_TEMPLATE")
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local tag = os.getenv("BENCH_TAG") or "wrk"
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local headers = { ["Content-Type"] = "application/json" }
local BLOCK = 1000 -- tasks a block
local next_tid = 0
local count = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

function request()
  local k = offset + tid + nthreads * count
  count = count + 1
  local block = math.floor(k / (2 * BLOCK))
  local j = k % (2 * BLOCK)
  local task = block * BLOCK + j % BLOCK
  local i = task % n + 1
  local state, status = "running", "RUNNING"
  if j >= BLOCK or task >= n then
    state, status = "succeeded", "SUCCESS"
  end
  local id = ids[i]
  local body = string.format(template, id, state, status, id, id, tag .. "-" .. k)
  return wrk.format("POST", paths[i], headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
      .. '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
