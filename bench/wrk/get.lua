-- wrk script: GETs of one URL. Arguments (after `--`): [IF_NONE_MATCH], sent as If-None-Match when
-- given (a reader whose cached copy is current).
local report = require("report")

statuses, answered_ok, sent = {}, 0, 0
setup = report.setup

function init(args)
  if args[1] and args[1] ~= "" then
    wrk.headers["If-None-Match"] = args[1]
  end
end

function request()
  sent = sent + 1
  return wrk.format()
end

function response(status, headers, body)
  report.count(status)
end

done = report.done
