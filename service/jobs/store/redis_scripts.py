"""The Redis store's schema: the key layout, how a job is written into a hash, and the
Lua scripts that change state (each one atomic, each checked against the job's version
and, for a worker's write, its lease token). :mod:`service.jobs.store.redis` runs them.
"""

from __future__ import annotations

import dataclasses
import json

from service.jobs.store.base import Job, JobState, Priority

__all__ = [
    "DISCARD",
    "GRANT",
    "GROUP",
    "PEEK",
    "PURGE",
    "SUBMIT",
    "WRITE",
    "Keys",
    "decode_job",
    "encode_job",
    "tomb_owner",
    "tomb_value",
]

GROUP = "workers"  # the consumer group every worker reads the queues through

FIELDS = tuple(f.name for f in dataclasses.fields(Job))

# KEYS: job, idem, queue, order, index(queued), seq, tenant order, tenant queued.
# ARGV: id, has_idem, max queued, max queued of the tenant ('' = no bound), field/value...
# Returns {1, id} created, {0, id} the key's job, {-1, queued, tenant queued} over a bound.
SUBMIT = """
if ARGV[2] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {0, existing} end
end
if ARGV[3] ~= '' or ARGV[4] ~= '' then
  local queued, mine = redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[8])
  if (ARGV[3] ~= '' and queued >= tonumber(ARGV[3]))
      or (ARGV[4] ~= '' and mine >= tonumber(ARGV[4])) then
    return {-1, queued, mine}
  end
end
local seq = redis.call('INCR', KEYS[6])
local entry = redis.call('XADD', KEYS[3], '*', 'job', ARGV[1])
redis.call('HSET', KEYS[1], 'v', 1, 'seq', seq, 'entry', entry, unpack(ARGV, 5))
if ARGV[2] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'NX') end
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('ZADD', KEYS[5], seq, ARGV[1])
redis.call('ZADD', KEYS[7], seq, ARGV[1])
redis.call('ZADD', KEYS[8], seq, ARGV[1])
return {1, ARGV[1]}
"""

# KEYS: job, queue, leased, delayed, expiry, index(old state), index(new state), idem,
# tenant queued.  ARGV: version, token (JSON, '' = no lease to check), id, seq, drop entry,
# add entry, renew as consumer, leased score, delayed score, expiry score, ttl ms, group,
# queued after ('1' | '0'), field/value...
WRITE = """
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[2] then return 0 end
local id = ARGV[3]
local entry = redis.call('HGET', KEYS[1], 'entry') or ''
if ARGV[5] == '1' and entry ~= '' then
  redis.call('XACK', KEYS[2], ARGV[12], entry)
  redis.call('XDEL', KEYS[2], entry)
  entry = ''
end
if ARGV[6] == '1' and entry == '' then
  entry = redis.call('XADD', KEYS[2], '*', 'job', id)
end
if ARGV[7] ~= '' and entry ~= '' then
  redis.call('XCLAIM', KEYS[2], ARGV[12], ARGV[7], 0, entry, 'IDLE', 0, 'JUSTID')
end
for i = 3, 4 do
  local score = ARGV[5 + i]
  if score ~= '' then
    redis.call('ZADD', KEYS[i], score, id)
  else
    redis.call('ZREM', KEYS[i], id)
  end
end
if KEYS[6] ~= KEYS[7] then
  redis.call('ZREM', KEYS[6], id)
  redis.call('ZADD', KEYS[7], ARGV[4], id)
end
if ARGV[13] == '1' then
  redis.call('ZADD', KEYS[9], ARGV[4], id)
else
  redis.call('ZREM', KEYS[9], id)
end
redis.call('HSET', KEYS[1], 'v', tonumber(v) + 1, 'entry', entry, unpack(ARGV, 14))
if ARGV[10] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[10], id)
  redis.call('PEXPIRE', KEYS[1], ARGV[11])
  if redis.call('GET', KEYS[8]) == id then redis.call('PEXPIRE', KEYS[8], ARGV[11]) end
end
return 1
"""

_LAST_DELIVERED = """
local function last_delivered(queue, group)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', queue)) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] end
      if g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    if name == group then return last end
  end
  return redis.error_reply('NOGROUP no consumer group ' .. group .. ' on ' .. queue)
end
"""

# KEYS: queue(interactive), queue(batch), credit.  ARGV: group, limit.
PEEK = (
    _LAST_DELIVERED
    + """
local out = {}
for i = 1, 2 do
  local last = last_delivered(KEYS[i], ARGV[1])
  if type(last) == 'table' then return last end
  out[#out + 1] = last
  out[#out + 1] = redis.call('XRANGE', KEYS[i], '(' .. last, '+', 'COUNT', ARGV[2])
end
out[#out + 1] = redis.call('GET', KEYS[3]) or ''
return out
"""
)

# KEYS: credit, queue(interactive), queue(batch), leased, index(queued), index(running),
# then per job its hash and its tenant's queued index.  ARGV: group, consumer, credit
# read, new credit, last delivered id and count per queue, then per job: id, version,
# entry, queue (1|2), deadline, deliveries, seq, field count, field/value...  Checks
# everything first (0: something moved, claim again), then delivers the entries with
# XREADGROUP and writes the leases.
GRANT = (
    _LAST_DELIVERED
    + """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[3] then return 0 end
local expected = {{}, {}}
for i = 1, 2 do
  local count = tonumber(ARGV[4 + 2 * i])
  if count > 0 then
    local last = last_delivered(KEYS[1 + i], ARGV[1])
    if type(last) == 'table' or last ~= ARGV[3 + 2 * i] then return 0 end
    for _, e in ipairs(redis.call('XRANGE', KEYS[1 + i], '(' .. last, '+', 'COUNT', count)) do
      expected[i][e[1]] = true
    end
  end
end
local a = 9
for j = 7, #KEYS, 2 do
  if redis.call('HGET', KEYS[j], 'v') ~= ARGV[a + 1] then return 0 end
  if not expected[tonumber(ARGV[a + 3])][ARGV[a + 2]] then return 0 end
  a = a + 8 + 2 * tonumber(ARGV[a + 7])
end
for i = 1, 2 do
  local count = tonumber(ARGV[4 + 2 * i])
  if count > 0 then
    redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count, 'STREAMS', KEYS[1 + i], '>')
  end
end
a = 9
for j = 7, #KEYS, 2 do
  local id, v, entry, queue = ARGV[a], ARGV[a + 1], ARGV[a + 2], KEYS[1 + tonumber(ARGV[a + 3])]
  local n = tonumber(ARGV[a + 7])
  redis.call('XCLAIM', queue, ARGV[1], ARGV[2], 0, entry,
             'IDLE', 0, 'RETRYCOUNT', ARGV[a + 5], 'JUSTID')
  redis.call('HSET', KEYS[j], 'v', tonumber(v) + 1, unpack(ARGV, a + 8, a + 7 + 2 * n))
  redis.call('ZADD', KEYS[4], ARGV[a + 4], id)
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[j + 1], id)
  redis.call('ZADD', KEYS[6], ARGV[a + 6], id)
  a = a + 8 + 2 * n
end
if ARGV[4] ~= ARGV[3] then redis.call('SET', KEYS[1], ARGV[4]) end
return 1
"""
)

# KEYS: queue, job.  ARGV: group, entry.  Drops an entry its job no longer points at.
DISCARD = """
if (redis.call('HGET', KEYS[2], 'entry') or '') == ARGV[2] then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

# KEYS: job, idem, order, expiry, leased, delayed, tomb, tombs, queue, then indexes the id
# leaves (states, its tenant's).  ARGV: id, version ('' = the hash is already gone), now,
# tombstone ttl s, group, entry, tombstone value (the owner as JSON, or null).
PURGE = """
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'v') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
for k = 3, 6 do redis.call('ZREM', KEYS[k], ARGV[1]) end
for k = 10, #KEYS do redis.call('ZREM', KEYS[k], ARGV[1]) end
if ARGV[6] ~= '' then
  redis.call('XACK', KEYS[9], ARGV[5], ARGV[6])
  redis.call('XDEL', KEYS[9], ARGV[6])
end
redis.call('SET', KEYS[7], ARGV[7], 'EX', ARGV[4])
redis.call('ZADD', KEYS[8], ARGV[3], ARGV[1])
return 1
"""


def encode_job(job: Job) -> list[str]:
    """The job as hash field/value pairs, each value JSON (floats round-trip exactly)."""
    pairs: list[str] = []
    for name in FIELDS:
        value = getattr(job, name)
        if name == "state":
            value = job.state.value
        elif name == "priority":
            value = int(job.priority)
        pairs += [name, json.dumps(value, ensure_ascii=False)]
    return pairs


def decode_job(raw: dict[str, str]) -> Job:
    """The job from its hash; a field an older release did not write takes its default."""
    values = {name: json.loads(raw[name]) for name in FIELDS if name in raw}
    values["state"] = JobState(values["state"])
    values["priority"] = Priority(values["priority"])
    return Job(**values)


def tomb_value(job: Job | None) -> str:
    """What a tombstone holds: its job's owner as JSON (``null`` when the job was gone)."""
    return json.dumps(job.tenant if job is not None else None)


def tomb_owner(value: str) -> str | None:
    """The owner a tombstone names; None when unknown (a tombstone from before tenants
    holds the time it was purged)."""
    try:
        owner = json.loads(value)
    except ValueError:
        return None
    return owner if isinstance(owner, str) else None


class Keys:
    """Every key under one hash tag, ``{prefix}``, so scripts may touch any of them."""

    def __init__(self, prefix: str) -> None:
        self.tag = f"{{{prefix}}}"
        t = self.tag
        self.order, self.seq, self.credit = f"{t}:order", f"{t}:seq", f"{t}:batch-credit"
        self.leased, self.delayed, self.expiry = f"{t}:leased", f"{t}:delayed", f"{t}:expiry"
        self.tombs, self.workers = f"{t}:tombstones", f"{t}:workers"
        self.queues = {p: f"{t}:queue:{p.name.lower()}" for p in Priority}
        self.indexes = {s: f"{t}:state:{s.value}" for s in JobState}

    def job(self, job_id: str) -> str:
        return f"{self.tag}:job:{job_id}"

    def idem(self, key: str | None, tenant: str = "") -> str:
        # The open API's keys keep the layout they had before tenants; a tenant's live
        # in a namespace of their own, so no key of one can name another's.
        if not tenant:
            return f"{self.tag}:idem:{key or ''}"
        return f"{self.tag}:tidem:{tenant}:{key or ''}"

    def tenant_order(self, tenant: str) -> str:
        """A tenant's jobs by submission (its ``list``)."""
        return f"{self.tag}:tenant:{tenant}:order"

    def tenant_queued(self, tenant: str) -> str:
        """A tenant's queued jobs (its admission bound)."""
        return f"{self.tag}:tenant:{tenant}:queued"

    def tomb(self, job_id: str) -> str:
        return f"{self.tag}:tomb:{job_id}"
