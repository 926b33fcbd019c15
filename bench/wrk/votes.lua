-- wrk script: ballots from distinct voters, each with its own nonce (POST /v1/votes).
--
-- Arguments (after `--`): TOKENS_FILE TOOLS LIMIT DELAY_MS THREADS OFFSET
--   TOKENS_FILE  voter tokens minted by the benchmark, one per line
--   TOOLS        comma-separated tool slugs; each (voter, tool) pair is cast once, so the
--                tallies must end up equal to the ballots accepted
--   LIMIT        stop each thread after this many answers (0: run for wrk's --duration)
--   DELAY_MS     pause before each request on a connection (an offered rate, for latency)
--   THREADS      wrk's --threads (ballot numbers are strided by it, unique across threads)
--   OFFSET       ballots numbered below this were cast by earlier runs (never cast twice)
local report = require("report")

statuses, answered_ok, sent = {}, 0, 0
setup = report.setup

local tokens, tools = {}, {}
local answered, limit, pause, stride, offset = 0, 0, 0, 1, 0

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  for slug in string.gmatch(args[2], "[^,]+") do
    tools[#tools + 1] = slug
  end
  limit = tonumber(args[3])
  pause = tonumber(args[4])
  stride = tonumber(args[5])
  offset = tonumber(args[6])
end

function delay()
  return pause
end

function request()
  local i = offset + sent * stride + thread_index
  sent = sent + 1
  local voter = (i % #tokens) + 1
  local tool = tools[(math.floor(i / #tokens) % #tools) + 1]
  local choice = (i % 3 == 0) and "skip" or "ship"
  local body = string.format(
    '{"tool":"%s","choice":"%s","voter_token":"%s","nonce":"wrk-%d"}', tool, choice, tokens[voter], i
  )
  return wrk.format("POST", "/v1/votes", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  report.count(status)
  answered = answered + 1
  if limit > 0 and answered == limit then
    report.stop_thread()
  end
end

done = report.done
