-- Shared by the wrk scripts (found through LUA_PATH, set by bench/wrk.py): per-thread answer counts,
-- and done()'s one line, "WRK_JSON {...}", that bench/wrk.py reads.
local report = {}

local threads = {}

-- wrk's setup(): each thread gets its number, thread_index (0, 1, ...), in its globals.
function report.setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Called from a thread's response() once it has every answer it wants: wrk itself runs for its whole
-- --duration, so bench/wrk.py interrupts it once every thread has printed this line.
function report.stop_thread()
  io.write("WRK_LIMIT\n")
  io.flush()
  wrk.thread:stop()
end

-- Called from each thread's response(): counts by status (kept in the thread's globals).
function report.count(status)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 400 then
    answered_ok = answered_ok + 1
  end
end

function report.done(summary, latency)
  local ok_total, sent_total = 0, 0
  local totals, by_status = {}, {}
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("answered_ok")
    sent_total = sent_total + thread:get("sent")
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do
    by_status[#by_status + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "sent": %d, "ok": %d, "duration_us": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "statuses": {%s}}\n',
    summary.requests, sent_total, ok_total, summary.duration, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(by_status, ", ")
  ))
end

return report
