-- wrk script of bench/mix: every feed URL of a newsroom, Zipf popularity, mostly revalidations.
--
-- MIX_URLS names a file of "path<TAB>etag" lines in popularity order: line r is drawn with
-- weight 1/r (Zipf, s = 1). MIX_CONDITIONAL (default 0.8) of the requests carry If-None-Match
-- with that etag. MIX_PORTS (optional, "8001,8002") spreads wrk's threads over servers on
-- 127.0.0.1, thread i on port i mod n, each with its share of the connections. MIX_SEED seeds
-- each thread's draws (the seed plus the thread's number), so every turn asks the same things.
-- At the end it prints "mix: 200=... 304=... other=..." for bench/mix.

local threads = {}
local counter = 0

function setup(thread)
   local ports = os.getenv("MIX_PORTS")
   if ports ~= nil and ports ~= "" then
      local list = {}
      for port in ports:gmatch("%d+") do
         list[#list + 1] = port
      end
      thread.addr = wrk.lookup("127.0.0.1", list[counter % #list + 1])[1]
   end
   thread:set("number", counter)
   counter = counter + 1
   threads[#threads + 1] = thread
end

local plain, conditional, cumulative = {}, {}, {}
local total, count, share = 0, 0, 0.8
-- Globals, so that done() can read them from each thread with thread:get().
ok, revalidated, other = 0, 0, 0

function init(args)
   math.randomseed(tonumber(os.getenv("MIX_SEED") or "13") + 7919 * number)
   share = tonumber(os.getenv("MIX_CONDITIONAL") or "0.8")
   local file = assert(io.open(os.getenv("MIX_URLS"), "r"))
   for line in file:lines() do
      local path, etag = line:match("^([^\t]+)\t(.*)$")
      count = count + 1
      plain[count] = wrk.format("GET", path)
      conditional[count] = wrk.format("GET", path, { ["If-None-Match"] = etag })
      total = total + 1 / count
      cumulative[count] = total
   end
   file:close()
end

function request()
   -- The first rank whose cumulative weight reaches a uniform draw over the total.
   local u = math.random() * total
   local lo, hi = 1, count
   while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cumulative[mid] < u then lo = mid + 1 else hi = mid end
   end
   if math.random() < share then
      return conditional[lo]
   end
   return plain[lo]
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   elseif status == 304 then
      revalidated = revalidated + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local a, b, c = 0, 0, 0
   for _, thread in ipairs(threads) do
      a = a + thread:get("ok")
      b = b + thread:get("revalidated")
      c = c + thread:get("other")
   end
   io.write(string.format("mix: 200=%d 304=%d other=%d\n", a, b, c))
end
