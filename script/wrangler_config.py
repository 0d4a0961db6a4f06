#!/usr/bin/env python3
"""Reads and records what script/deploy needs in wrangler.toml, for one environment.

  wrangler_config.py check ENV           refuse dev values; print nothing when all is well
  wrangler_config.py get ENV FIELD       name | d1_name | d1_id | kv_id | issuer | audience
  wrangler_config.py set ENV d1|kv ID [BINDING]
                                         record a created database's (binding BINDING, DB by
                                         default) or namespace's id
  wrangler_config.py d1 ENV              every D1 database of ENV, one `BINDING NAME` per line:
                                         those D1_SHARDS lists first (the home DB first), then
                                         any other (a database being prepared, not yet listed)
  wrangler_config.py find-d1 NAME        read `wrangler d1 list --json` on stdin, print the uuid
  wrangler_config.py find-kv TITLE...    read `wrangler kv namespace list` on stdin, print the id
  wrangler_config.py upload-size DIR     the bytes of every file under DIR, then their gzip size
  wrangler_config.py secret-names ENV RC ERRFILE
                                         read `wrangler secret list --format json` (stdout on
                                         stdin, its exit code, its stderr in ERRFILE): print
                                         `exists` or `absent`, then one secret name per line;
                                         fail on anything else (fail closed: never "no secrets")
  wrangler_config.py kv-names            read `wrangler kv key list` on stdin: one key name per
                                         line; fail on anything that is not the JSON list
  wrangler_config.py kv-file NAME        the file name a backup keeps KV key NAME under
                                         (percent-encoded, so any key is one safe file name)
  wrangler_config.py row-count RC ERRFILE read `wrangler d1 execute --json` of one COUNT(*) AS n
                                         query on stdin: print n; fail on anything else
  wrangler_config.py databases ENV|-     the D1 bindings D1_SHARDS lists for ENV (- : the
                                         top-level [vars]), one per line; DB when unset

Reading uses tomllib; writing edits only the one `database_id`/`id` line of the environment's
binding, so comments and layout stay as the operator wrote them.
"""

import gzip
import json
import os
import re
import sys
import tomllib

CONFIG = os.environ.get("BYOK_WRANGLER_CONFIG") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "wrangler.toml"
)
UNSET = "set-by-script-deploy"
DEV_ISSUERS = {"byok-dev", ""}


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def env_section(env):
    with open(CONFIG, "rb") as f:
        config = tomllib.load(f)
    section = config.get("env", {}).get(env)
    if section is None:
        fail(f"wrangler.toml has no [env.{env}] section")
    return config, section


def binding(section, kind, name):
    for b in section.get(kind, []):
        if b.get("binding") == name:
            return b
    return None


def get(env, field):
    _, s = env_section(env)
    d1 = binding(s, "d1_databases", "DB") or {}
    kv = binding(s, "kv_namespaces", "KV") or {}
    value = {
        "name": s.get("name", ""),
        "d1_name": d1.get("database_name", ""),
        "d1_id": d1.get("database_id", ""),
        "kv_id": kv.get("id", ""),
        "issuer": s.get("vars", {}).get("AUTH_ISSUER", ""),
        "audience": s.get("vars", {}).get("AUTH_AUDIENCE", ""),
    }.get(field)
    if value is None:
        fail(f"unknown field {field}")
    print(value)


def shard_names(section):
    """The bindings `D1_SHARDS` lists in a section's [vars] (DB when unset), as the Worker
    reads them (`byok_core::shard::ShardMap::parse`)."""
    value = str(section.get("vars", {}).get("D1_SHARDS", "")).strip()
    return [n.strip() for n in value.split(",")] if value else ["DB"]


def d1_bindings(section):
    """The section's D1 bindings: those D1_SHARDS lists in its order, then the others."""
    listed = shard_names(section)
    all_ = section.get("d1_databases", [])
    by_name = {b.get("binding"): b for b in all_}
    return [by_name[n] for n in listed if n in by_name] + [
        b for b in all_ if b.get("binding") not in listed
    ]


def d1(env):
    _, s = env_section(env)
    for b in d1_bindings(s):
        print(f"{b.get('binding', '')} {b.get('database_name', '')}")


def databases(env):
    if env == "-":
        with open(CONFIG, "rb") as f:
            section = tomllib.load(f)
    else:
        _, section = env_section(env)
    for name in shard_names(section):
        print(name)


def check(env):
    """Everything about the environment's config that can be known offline."""
    config, s = env_section(env)
    problems = []
    vars_ = s.get("vars", {})
    if str(vars_.get("DEV_MODE", "false")).lower() != "false":
        problems.append(f'[env.{env}.vars] DEV_MODE must be "false" (the dev login must not exist)')
    if vars_.get("AUTH_ISSUER", "") in DEV_ISSUERS:
        problems.append(f"[env.{env}.vars] AUTH_ISSUER must name the platform backend that mints tokens, not a dev value")
    if not vars_.get("AUTH_AUDIENCE"):
        problems.append(f"[env.{env}.vars] AUTH_AUDIENCE is missing")
    for secret in ("AUTH_SECRET", "SERVICE_AUTH_SECRET", "BYOK_KEYRING", "WEBHOOK_SECRET"):
        if secret in vars_:
            problems.append(f"[env.{env}.vars] {secret} is a secret: remove it from wrangler.toml (script/deploy puts it)")
    if not s.get("name") or s.get("name") == config.get("name") and env != "production":
        problems.append(f"[env.{env}] needs a worker name of its own")
    d1 = binding(s, "d1_databases", "DB")
    if d1 is None or not d1.get("database_name"):
        problems.append(f"[[env.{env}.d1_databases]] needs binding DB with a database_name")
    shards = shard_names(s)
    if shards[0] != "DB":
        problems.append(
            f"[env.{env}.vars] D1_SHARDS must list DB first (the home database, which holds the "
            f"catalog): it lists {', '.join(shards)}"
        )
    if len(set(shards)) != len(shards):
        problems.append(f"[env.{env}.vars] D1_SHARDS lists a database twice: {', '.join(shards)}")
    local_name = config.get("d1_databases", [{}])[0].get("database_name")
    seen = {}
    for b in s.get("d1_databases", []):
        name, label = b.get("database_name"), b.get("binding", "?")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(label)):
            problems.append(f"[[env.{env}.d1_databases]] binding {label!r} is not a binding name")
        if not name:
            problems.append(f"[[env.{env}.d1_databases]] {label} needs a database_name")
            continue
        if name == local_name:
            problems.append(f"[[env.{env}.d1_databases]] {label} must not share the local database's name")
        if name in seen:
            problems.append(f"[[env.{env}.d1_databases]] {label} and {seen[name]} name the same database {name}")
        seen[name] = label
        if not b.get("migrations_dir"):
            problems.append(f"[[env.{env}.d1_databases]] {label} needs migrations_dir")
        elif d1 and b.get("migrations_dir") != d1.get("migrations_dir"):
            problems.append(
                f"[[env.{env}.d1_databases]] {label} must use DB's migrations_dir: every database "
                "holds the same schema"
            )
    def unbound(setting, names):
        for name in names:
            if binding(s, "d1_databases", name) is None:
                problems.append(
                    f"[env.{env}.vars] {setting} lists {name}, which has no [[env.{env}.d1_databases]] binding"
                )

    unbound("D1_SHARDS", shards)
    # A move under way (docs/capacity.md, "Adding a database"): the list tenants go to.
    nxt = str(s.get("vars", {}).get("D1_SHARDS_NEXT", "")).strip()
    if nxt:
        names = [n.strip() for n in nxt.split(",")]
        if names[0] != "DB":
            problems.append(f"[env.{env}.vars] D1_SHARDS_NEXT must list DB first: it lists {nxt}")
        if len(set(names)) != len(names):
            problems.append(f"[env.{env}.vars] D1_SHARDS_NEXT lists a database twice: {nxt}")
        if sorted(names) == sorted(shards):
            problems.append(
                f"[env.{env}.vars] D1_SHARDS_NEXT lists the same databases as D1_SHARDS: no tenant "
                "would move; remove it once a move is done"
            )
        unbound("D1_SHARDS_NEXT", names)
    if binding(s, "kv_namespaces", "KV") is None:
        problems.append(f"[[env.{env}.kv_namespaces]] needs binding KV")
    quota = [b for b in s.get("durable_objects", {}).get("bindings", []) if b.get("name") == "QUOTA"]
    if not quota or quota[0].get("class_name") != "PlatformQuota":
        problems.append(f"[[env.{env}.durable_objects.bindings]] needs QUOTA → PlatformQuota (the platform key's cap)")
    if not any("PlatformQuota" in m.get("new_sqlite_classes", []) for m in config.get("migrations", [])):
        problems.append("[[migrations]] must create PlatformQuota as a SQLite-backed class")
    for b in s.get("d1_databases", []) + [binding(s, "kv_namespaces", "KV") or {}]:
        for k in ("database_id", "id"):
            if re.fullmatch(r"0+(-0+)*", str(b.get(k, "x"))):
                problems.append(f"env.{env}: {k} is the local placeholder; use {UNSET!r} or the real id")
    # Rate-limit counters are per account and namespace id: an environment sharing another's
    # ids would spend its budget (review finding L7).
    mine = {str(r.get("namespace_id")) for r in s.get("ratelimits", [])}
    for other, o in config.get("env", {}).items():
        if other == env:
            continue
        shared = mine & {str(r.get("namespace_id")) for r in o.get("ratelimits", [])}
        if shared:
            problems.append(
                f"[[env.{env}.ratelimits]] shares namespace_id {', '.join(sorted(shared))} with "
                f"env.{other}: give each environment its own"
            )
    if problems:
        fail("the configuration is not fit to deploy:\n  " + "\n  ".join(problems))


def set_id(env, kind, value, name=None):
    if not re.fullmatch(r"[0-9A-Za-z-]{8,64}", value):
        fail(f"not an id: {value!r}")
    if kind not in ("d1", "kv"):
        fail(f"unknown kind {kind}")
    header = {"d1": f"[[env.{env}.d1_databases]]", "kv": f"[[env.{env}.kv_namespaces]]"}[kind]
    field = {"d1": "database_id", "kv": "id"}[kind]
    name = name or {"d1": "DB", "kv": "KV"}[kind]
    with open(CONFIG, encoding="utf-8") as f:
        lines = f.read().split("\n")
    # Each block under the header runs to the next table header; the one whose binding is
    # `name` gets the id.
    starts = [i for i, l in enumerate(lines) if l.strip() == header]
    for start in starts:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].strip().startswith("[")), len(lines))
        block = range(start + 1, end)
        if not any(re.fullmatch(rf'binding\s*=\s*"{re.escape(name)}"', lines[i].strip()) for i in block):
            continue
        for i in block:
            if re.match(rf"{field}\s*=", lines[i].strip()):
                lines[i] = f'{field} = "{value}"'
                with open(CONFIG, "w", encoding="utf-8") as f:
                    f.write("\n".join(lines))
                return
        fail(f"{header} {name} has no {field} line")
    fail(f"wrangler.toml has no {header} with binding {name}")


def find_d1(name):
    for db in json.load(sys.stdin):
        if db.get("name") == name:
            print(db.get("uuid") or db.get("id") or "")
            return
    print("")


def find_kv(*titles):
    for ns in json.load(sys.stdin):
        if ns.get("title") in titles:
            print(ns.get("id", ""))
            return
    print("")


def _shown(text, limit=400):
    """What wrangler printed, cut short, for an error message (it never holds a secret value:
    `secret list` prints names only)."""
    text = text.strip()
    return (text[:limit] + "...") if len(text) > limit else (text or "(nothing)")


def _read(path):
    """What wrangler wrote to stderr (a file the caller captured), or nothing."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def secret_names(env, rc, errfile):
    """The names of the secrets on the environment's Worker, from `wrangler secret list`.

    Fails closed: only a zero exit with stdout that is exactly a JSON list of {"name": ...}
    objects counts as a list, and only wrangler's own "Worker ... not found" answer counts as
    "the Worker does not exist yet". Anything else (an error, a 5xx, a 429, a token that cannot
    read secrets, a banner or a warning before the JSON, a timeout) stops the deploy: reading it
    as "no secrets" would generate new ones and put them over the live ones.
    """
    out, err = sys.stdin.read(), _read(errfile)
    name = env_section(env)[1].get("name", "")
    if rc != "0":
        # wrangler >= 4.5x: `Worker "NAME" (env: ENV) not found.` then "If this is a new Worker".
        pattern = rf'Worker "{re.escape(name)}"( \(env: {re.escape(env)}\))? not found\.'
        if name and re.search(pattern, err + out) and "If this is a new Worker" in err + out:
            print("absent")
            return
        how = "timed out" if rc == "124" else f"failed (exit {rc})"
        fail(
            f"`wrangler secret list --env {env}` {how}, so the secrets on Cloudflare are unknown; "
            f"nothing was put. Fix the cause and run again. wrangler said: {_shown(err + out)}"
        )
    try:
        secrets = json.loads(out)
    except ValueError:
        secrets = None
    if not isinstance(secrets, list) or not all(
        isinstance(s, dict) and isinstance(s.get("name"), str) and s["name"] for s in secrets
    ):
        fail(
            f"`wrangler secret list --env {env}` printed something that is not a JSON list of "
            f"secrets, so the secrets on Cloudflare are unknown; nothing was put. "
            f"It printed: {_shown(out)}"
        )
    print("exists")
    for s in secrets:
        print(s["name"])


def kv_names():
    """The key names in `wrangler kv key list`'s answer; fails closed on anything else."""
    out = sys.stdin.read()
    try:
        keys = json.loads(out)
    except ValueError:
        keys = None
    if not isinstance(keys, list) or not all(
        isinstance(k, dict) and isinstance(k.get("name"), str) for k in keys
    ):
        fail(f"wrangler kv key list printed something that is not the JSON list of keys: {_shown(out)}")
    for k in keys:
        print(k["name"])


def kv_file(name):
    import urllib.parse

    print(urllib.parse.quote(name, safe=""))


def row_count(rc, errfile):
    """n from `wrangler d1 execute --json --command 'SELECT COUNT(*) AS n ...'`; fails closed."""
    out, err = sys.stdin.read(), _read(errfile)
    if rc != "0":
        how = "timed out" if rc == "124" else f"failed (exit {rc})"
        fail(f"counting the remote rows {how}: {_shown(err + out)}")
    try:
        n = json.loads(out)[0]["results"][0]["n"]
    except (ValueError, LookupError, TypeError):
        n = None
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        fail(f"counting the remote rows printed something unexpected: {_shown(out)}")
    print(n)


def upload_size(directory):
    # What Cloudflare limits (64 MiB, uncompressed), then the gzip size (for reference: the
    # compressed limits were removed on 2026-09-04).
    raw = gzipped = 0
    for root, _, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            raw += len(data)
            gzipped += len(gzip.compress(data, compresslevel=9))
    print(raw, gzipped)


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    cmd, args = argv[1], argv[2:]
    commands = {
        "check": (check, 1),
        "get": (get, 2),
        "set": (set_id, 3),
        "d1": (d1, 1),
        "find-d1": (find_d1, 1),
        "upload-size": (upload_size, 1),
        "secret-names": (secret_names, 3),
        "row-count": (row_count, 2),
        "kv-names": (kv_names, 0),
        "kv-file": (kv_file, 1),
        "databases": (databases, 1),
    }
    if cmd == "find-kv" and args:
        return find_kv(*args)
    if cmd == "set" and len(args) == 4:
        return set_id(*args)
    if cmd not in commands or len(args) != commands[cmd][1]:
        fail(__doc__)
    commands[cmd][0](*args)


if __name__ == "__main__":
    main(sys.argv)
