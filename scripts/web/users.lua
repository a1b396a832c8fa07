-- wrk script: GET /api/recommendations/{uid} for a random user id 1..RECO_MAX_UID (dense ids,
-- like scripts/bench/recommend.sql), so the load spreads over many users as pgbench's does.
local max_uid = tonumber(os.getenv("RECO_MAX_UID") or "1000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/recommendations/" .. math.random(1, max_uid))
end
