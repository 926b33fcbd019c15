-- wrk script: POST each body of a file once (ingest: one tool, or a batch of tools, a line).
--
-- Arguments (after `--`): PATH BODIES_FILE HEADERS_FILE THREADS
--   PATH          where the bodies go (POST)
--   BODIES_FILE   one request body a line; each is sent exactly once
--   HEADERS_FILE  "Name: value" lines sent with every request (the partner key stays in a file)
--   THREADS       wrk's --threads: thread k sends lines k+1, k+1+THREADS, ...
-- A thread stops once each of its bodies is answered; a connection with nothing left to send
-- waits (delay) instead of sending anything else.
local report = require("report")

statuses, answered_ok, sent = {}, 0, 0
setup = report.setup

local path, headers, mine, answered = "/", {}, {}, 0
-- wrk (Debian's 4.1) calls the first thread's request() once before the run, to check the script:
-- that call must not use up a body, or one body is never sent and the run never ends.
local checking = false

function init(args)
  checking = thread_index == 0
  path = args[1]
  local stride = tonumber(args[4])
  local line_number = 0
  for line in io.lines(args[2]) do
    if line_number % stride == thread_index then
      mine[#mine + 1] = line
    end
    line_number = line_number + 1
  end
  for line in io.lines(args[3]) do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then
      headers[name] = value
    end
  end
end

-- wrk asks delay() before each request on a connection, and sends one request after each 0: a body
-- is claimed there, so that two connections never both take the last one.
local claimed = 0

function delay()
  if claimed >= #mine then
    return 3600000 -- nothing left: never sends again before the thread stops
  end
  claimed = claimed + 1
  return 0
end

function request()
  if checking then
    checking = false
    return wrk.format("POST", path, headers, mine[1])
  end
  sent = sent + 1
  return wrk.format("POST", path, headers, mine[sent])
end

function response(status, headers, body)
  report.count(status)
  answered = answered + 1
  if answered == #mine then
    report.stop_thread()
  end
end

done = report.done
