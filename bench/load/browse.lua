-- wrk script: signed-in users browsing pages, dataset grids, result tables and downloads.
-- COOKIE, RUN (an evaluation id), DATASET and IMAGE come from the environment (bench/load.sh).
local cookie = os.getenv("COOKIE")
local run = os.getenv("RUN")
local dataset = os.getenv("DATASET")
local image = os.getenv("IMAGE")
local requests = {}
local i = 0

function init(args)
  local get = { "/", "/datasets", "/datasets/" .. dataset, "/evaluations", "/evaluations/" .. run,
    "/api/evaluations/" .. run .. ".csv", "/api/evaluations/" .. run .. ".json",
    "/files/thumbs/" .. image, "/files/images/" .. image }
  for _, path in ipairs(get) do
    requests[#requests + 1] = wrk.format("GET", path, { Cookie = cookie })
  end
  local form = { Cookie = cookie, ["Content-Type"] = "application/x-www-form-urlencoded" }
  local posts = { { "/api/dataset/images", "name=" .. dataset .. "&page=1&filter[category]=&filter[split]=&filter[label]=&filter[qa_source]=" },
    { "/api/eval/run", "id=" .. run }, { "/api/home", "" }, { "/api/eval/runs", "" } }
  for _, p in ipairs(posts) do
    requests[#requests + 1] = wrk.format("POST", p[1], form, p[2])
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, requests)
  io.write(string.format("LOAD requests %d, errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  io.write(string.format("LOAD latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
