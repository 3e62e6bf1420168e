-- wrk script of bench_load.py: one kind of request of the load mix per wrk process.
-- Usage: wrk ... -s bench_load.lua URL -- KIND DATAFILE
--   KIND: list | detail | comment | write | minimal
--   DATAFILE: a Lua file returning {agents = {tokens}, customers = {{token=, tickets={ids}}},
--             org_tickets = {ids}, filters = {query strings}} (written by bench_load.py)
-- done() prints one JSON line: requests, seconds, errors and latency percentiles (us).

local kind, data
local counter = 0
local last_created = nil
local n_agents, n_customers, n_tickets, n_filters

local function pick(list, n)
  return list[math.random(n)]
end

-- Every RECYCLE-th request of a thread asks the server to close its connection, and wrk opens
-- a new one. Without it the 20 keep-alive connections stay where the kernel put them at the
-- start, and a gunicorn worker that got too few to keep its threads busy idles for the run
-- (seen: one run in three used one core of two, at half the throughput).
local RECYCLE = 25

local function auth(token)
  return {
    ["Authorization"] = "Bearer " .. token,
    ["X-Forwarded-Proto"] = "https",
    ["Content-Type"] = "application/json",
    ["Connection"] = counter % RECYCLE == 0 and "close" or "keep-alive",
  }
end

function init(args)
  kind = args[1]
  data = dofile(args[2])
  n_agents, n_customers = #data.agents, #data.customers
  n_tickets, n_filters = #data.org_tickets, #data.filters
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  counter = counter + 1
  -- Agents and customers alternate.
  local agent = counter % 2 == 0
  local customer = pick(data.customers, n_customers)
  if kind == "list" or kind == "minimal" then
    if agent then
      local page = math.random(5)
      local path = "/api/v1/tickets/?page_size=20&page=" .. page .. "&" .. pick(data.filters, n_filters)
      return wrk.format("GET", path, auth(pick(data.agents, n_agents)))
    end
    return wrk.format("GET", "/api/v1/tickets/?page_size=20&ordering=-updated_at", auth(customer.token))
  elseif kind == "detail" then
    if agent then
      local id = pick(data.org_tickets, n_tickets)
      return wrk.format("GET", "/api/v1/tickets/" .. id .. "/", auth(pick(data.agents, n_agents)))
    end
    local id = pick(customer.tickets, #customer.tickets)
    return wrk.format("GET", "/api/v1/tickets/" .. id .. "/", auth(customer.token))
  elseif kind == "comment" then
    local body = '{"body": "Any news on this? Request ' .. counter .. '."}'
    if agent then
      local id = pick(data.org_tickets, n_tickets)
      return wrk.format("POST", "/api/v1/tickets/" .. id .. "/comments/", auth(pick(data.agents, n_agents)), body)
    end
    local id = pick(customer.tickets, #customer.tickets)
    return wrk.format("POST", "/api/v1/tickets/" .. id .. "/comments/", auth(customer.token), body)
  elseif kind == "write" then
    -- One connection: a customer raises a ticket, then an agent opens it (new -> open).
    if last_created ~= nil then
      local id = last_created
      last_created = nil
      return wrk.format("POST", "/api/v1/tickets/" .. id .. "/transition/",
        auth(pick(data.agents, n_agents)), '{"status": "open"}')
    end
    local body = '{"subject": "Printer ' .. counter .. ' jammed", "description": "Paper everywhere.", "priority": "high"}'
    return wrk.format("POST", "/api/v1/tickets/", auth(customer.token), body)
  end
  error("unknown kind " .. tostring(kind))
end

function response(status, headers, body)
  if kind == "write" and status == 201 then
    last_created = body:match('"id":%s*(%d+)')
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "errors": %d, "status_errors": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
