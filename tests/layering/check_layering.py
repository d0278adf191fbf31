#!/usr/bin/env python3
"""Hold the tree to its floors (docs/architecture.md, "Rooms and floors").

Reads every #include of every C source and header under the rooms below,
resolves it to a file of the tree (the including file's folder first, then
the include folders the build gives that room), and fails on an edge the
floor table forbids. System and library headers are not the tree's and are
ignored. Prints one line per forbidden include and exits 1 if any.

  python3 tests/layering/check_layering.py [SOURCE_DIR]
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))

# Room of a file: the first prefix that matches (most specific first).
ROOMS = [
    ("base/include/flinc/", "api"),        # public: error codes, msgpack codec
    ("runtime/include/flinc/", "api"),     # public: the job API
    ("runtime/host/", "runtime-door"),     # the one header host programs include
    ("base/", "base"),
    ("state/", "state"),
    ("checkpoint/", "checkpoint"),
    ("gen/", "gen"),
    ("runtime/", "runtime"),
    ("proto/", "proto"),
    ("jobmanager/", "jobmanager"),
    ("taskmanager/", "taskmanager"),
    ("cli/", "cli"),
    ("jobs/", "jobs"),
]

# Who may include whom (besides itself). The public API headers sit on the
# ground floor with base: every room may include them.
DAEMON = {"runtime-door", "proto", "checkpoint", "state", "base", "api"}
ALLOWED = {
    "api": {"api"},
    "base": {"api"},
    "state": {"base", "api"},
    "checkpoint": {"state", "base", "api"},
    # the seed generators feed the datagen: input
    "runtime": {"runtime-door", "checkpoint", "state", "base", "api", "gen"},
    "runtime-door": {"checkpoint", "state", "base", "api"},
    "proto": {"base", "api"},
    "jobmanager": DAEMON,
    "taskmanager": DAEMON,
    # flinc-gen shares the seed and Nexmark generators with the jobs.
    "cli": {"runtime-door", "base", "api", "jobs-common", "gen"},
    # the seed generators stand alone (flinc-gen links no runtime)
    "gen": set(),
    "jobs": {"api", "jobs-common"},
    "jobs-common": {"api"},
}

# Include folders a room's files are compiled with (as the CMake targets
# give them), searched after the including file's own folder.
SEARCH = {
    "base": ["base", "base/include"],
    "state": ["state", "base", "base/include"],
    "checkpoint": ["checkpoint", "state", "base", "base/include"],
    "runtime": ["runtime/src", "runtime/include", "runtime/host", "checkpoint", "state", "base",
                "base/include", "gen"],
    "gen": ["gen"],
}
DEFAULT_SEARCH = ["runtime/include", "base/include", "runtime/host", "proto", "checkpoint", "state",
                  "base", "jobs/common"]
# Then every folder of the tree that holds headers, so that an include a
# room's build would not find (or finds only through a folder it should not
# see) still resolves and is judged.
EVERYWHERE = ["runtime/src", "runtime/src/connectors", "jobmanager", "taskmanager", "cli", "gen"]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def room_of(rel):
    if rel.startswith("jobs/common/"):
        return "jobs-common"
    for prefix, room in ROOMS:
        if rel.startswith(prefix):
            return room
    return None


def resolve(src_rel, name):
    here = os.path.dirname(src_rel)
    room = room_of(src_rel)
    for d in [here] + SEARCH.get(room, DEFAULT_SEARCH) + EVERYWHERE:
        cand = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(ROOT, cand)):
            return cand
    return None


def main():
    bad = []
    files = 0
    for top in [p for p, _ in ROOMS] + ["jobs/common/"]:
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in names:
                if not n.endswith((".c", ".h")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, n), ROOT)
                if room_of(rel) is None:
                    continue
                files += 1
                with open(os.path.join(ROOT, rel), encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = resolve(rel, m.group(2))
                        if target is None:
                            continue  # a system or library header
                        a, b = room_of(rel), room_of(target)
                        if b is None or a == b or b in ALLOWED.get(a, set()):
                            continue
                        bad.append(f"{rel}:{lineno}: {a} may not include {target} ({b})")
    for line in sorted(set(bad)):
        print(line)
    print(f"layering: {files} files read, {len(set(bad))} forbidden includes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
