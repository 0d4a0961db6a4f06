#!/usr/bin/env python3
"""Fills a stopped local D1 database (its SQLite file) with N tenants' worth of rows, for
script/bench-scale. Writes generated rows directly (no API calls), at the same per-tenant rates
whatever N, so that a 1,000-tenant and a 100,000-tenant database differ only in size:

- integrations: 3 per tenant over the seeded providers, 80% connected, 8% invalid, 7%
  unverified, 5% disconnected; checked within the last 50 minutes (so none is due: the bench
  makes its own probe keys due), with a sealed-looking secret that is never opened;
- audit_log: 10 rows per tenant over the last year (what people did; unchanged scheduled
  re-checks are counted per day, not written);
- status_events: 4 per integration over the last year, delivered;
- usage_daily: the last 60 days for a fifth of the integrations (the ones AI functions call);
- recheck_daily: one row per day, provider and outcome for the last year.

    bench-scale-fill.py DB.sqlite TENANTS [--seed N]
"""
import argparse
import datetime as dt
import random
import sqlite3
import sys
import time

STATUSES = [("connected", 80), ("invalid", 8), ("unverified", 7), ("disconnected", 5)]
ACTIONS = ["install", "save-key", "test", "replace-key", "uninstall", "set-policy"]


def iso(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms % 1000):03d}Z"


def day(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d")


def pick_status(rng):
    n = rng.randrange(100)
    for status, weight in STATUSES:
        if n < weight:
            return status
        n -= weight
    return "connected"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("tenants", type=int)
    ap.add_argument("--seed", type=int, default=20261130)
    opts = ap.parse_args()
    rng = random.Random(opts.seed)
    now = int(time.time() * 1000)
    year = 365 * 86_400_000
    db = sqlite3.connect(opts.db)
    db.execute("PRAGMA synchronous = OFF")
    providers = [r[0] for r in db.execute("SELECT key FROM integration_providers WHERE active = 1 ORDER BY key")]
    if len(providers) < 3:
        sys.exit("bench-scale-fill: the catalog is not seeded")
    started = time.time()
    integrations, audit, events, usage = [], [], [], []
    for t in range(opts.tenants):
        tenant = f"scale-{t:06d}"
        for provider in rng.sample(providers, 3):
            status = pick_status(rng)
            installed = now - rng.randrange(year)
            checked = now - rng.randrange(50 * 60_000)
            secret = None if status == "disconnected" else rng.randbytes(64)
            integrations.append((
                tenant, provider, status, secret,
                None if secret is None else "e2e",
                None if secret is None else '{"masked":"sk-…a1b2","fingerprint":"0000"}',
                iso(installed), iso(checked), checked,
                1 if status == "connected" else 0,
                # When the key is next due, as a test stores it (the default cadence).
                None if secret is None else checked + (3_600_000 if status == "unverified" else 86_400_000),
            ))
            for _ in range(4):
                at = now - rng.randrange(year)
                events.append((
                    f"msg_{rng.getrandbits(128):032x}", tenant, provider, "connected", status,
                    '{"cause":"recheck"}', iso(at), "delivered", 1,
                ))
            if rng.randrange(5) == 0 and status != "disconnected":
                for d in range(60):
                    usage.append((day(now - d * 86_400_000), tenant, provider, "tenant", rng.randrange(1, 200)))
        for _ in range(10):
            at = now - rng.randrange(year)
            audit.append((iso(at), f"user-{t % 97}", tenant, rng.choice(providers), rng.choice(ACTIONS), "ok"))
    audit.sort()
    size = lambda: db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    before_audit = size()
    with db:
        db.executemany(
            "INSERT INTO audit_log (at, actor, tenant, provider, action, outcome) VALUES (?, ?, ?, ?, ?, ?)",
            audit,
        )
    audit_bytes = (size() - before_audit) / max(1, len(audit))
    with db:
        db.executemany(
            """INSERT INTO integrations (tenant, provider, status, secret, key_id, mask, installed_at,
                 updated_at, last_checked_at, key_worked, next_check_at, key_version, last_version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)""",
            integrations,
        )
        db.executemany(
            """INSERT INTO status_events (id, tenant, provider, from_status, to_status, reason, at,
                 delivery, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            events,
        )
        db.executemany(
            """INSERT INTO usage_daily (day, tenant, provider, source, resolves) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (day, tenant, provider, source) DO UPDATE SET resolves = resolves + excluded.resolves""",
            usage,
        )
        db.executemany(
            """INSERT INTO recheck_daily (day, provider, outcome, checks) VALUES (?, ?, 'connected', ?)
               ON CONFLICT (day, provider, outcome) DO NOTHING""",
            [(day(now - d * 86_400_000), p, opts.tenants * 3 // len(providers)) for d in range(365) for p in providers],
        )
    # No ANALYZE: D1 plans without statistics unless asked, and so must the bench.
    total_bytes = size()
    db.close()
    print(
        f"bench-scale-fill: {opts.tenants} tenants: {len(integrations)} integrations, {len(audit)} audit rows, "
        f"{len(events)} status events, {len(usage)} usage rows in {time.time() - started:.1f} s; "
        f"{total_bytes / 1e6:.0f} MB; {audit_bytes:.0f} bytes per audit row with its indexes",
        flush=True,
    )


if __name__ == "__main__":
    main()
