-- wrk script of bench_overhead.py: the request given on the command line,
-- except that every RECYCLE-th request of a thread asks the server to close its connection and
-- wrk opens a new one. Without it the keep-alive connections stay where the kernel put them at
-- the start, and a gunicorn worker that got too few of them idles for the run (see
-- bench_load.lua, where this was found).
local RECYCLE = 25
local counter = 0

function request()
  counter = counter + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  if counter % RECYCLE == 0 then
    headers["Connection"] = "close"
  end
  return wrk.format(nil, nil, headers)
end
