"""check_counts - verify a word count output folder against the input.

Shared by the integration, cluster and chaos tests of the wordcount job.

The splitting rule is the job's (jobs/wordcount/wordcount.c): a word is a
maximal run of ASCII letters and digits, every other byte separates, words
are lowercased (ASCII only), and words longer than 256 bytes (FLINC_KEY_MAX)
are rejected. The output folder holds committed part files (names not
starting with '.') of "word<TAB>count" lines; exactly-once means that for
every word w with n occurrences the output holds the counts 1..n, each
exactly once, and nothing else.

Use:
    expected = expected_counts([path, ...])       # files or folders
    errors = check_output(expected, out_dir)      # [] when all is well
    verify(chk, expected, out_dir, "what")         # the same as one check
    prefix_errors(expected, pairs)                 # a stopped run's output
    cli_run(c, chk, par, inp, out, "what")          # run it on a cluster, check
"""

import collections
import os
import re

KEY_MAX = 256
WORD_RE = re.compile(rb"[A-Za-z0-9]+")
PART_RE = re.compile(r"part-[0-9]+-[0-9]+\Z")


def words_of(data):
    """The words of a bytes object, lowercased, in order (long ones dropped)."""
    return [m.lower() for m in WORD_RE.findall(data) if len(m) <= KEY_MAX]


def input_files(path):
    """The files a flinc file source reads for `path`: the file itself, or the
    regular files of the folder whose names do not start with '.', sorted."""
    if os.path.isfile(path):
        return [path]
    names = sorted(n for n in os.listdir(path) if not n.startswith("."))
    return [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]


def expected_counts(paths):
    """Counter of word (bytes) -> occurrences over the given files/folders."""
    counts = collections.Counter()
    for p in paths:
        for f in input_files(p):
            with open(f, "rb") as fh:
                counts.update(words_of(fh.read()))
    return counts


def read_output(out_dir, allow_dot_files=False):
    """Read the committed output. Returns (pairs, errors): pairs is a list of
    (word bytes, count int) over all committed files, errors lists files and
    lines that are not what a committed wordcount output may hold."""
    errors = []
    pairs = []
    if not os.path.isdir(out_dir):
        return pairs, ["output folder %s does not exist" % out_dir]
    for name in sorted(os.listdir(out_dir)):
        full = os.path.join(out_dir, name)
        if name.startswith("."):
            # the sink's commit ledger (which checkpoint committed each part)
            if re.match(r"\.commits-[0-9]+\Z", name):
                continue
            if not allow_dot_files:
                errors.append("uncommitted file left in the output: %s" % name)
            continue
        if not PART_RE.match(name):
            errors.append("unexpected committed file name: %r" % name)
            continue
        if not os.path.isfile(full):
            errors.append("committed entry is not a file: %s" % name)
            continue
        with open(full, "rb") as fh:
            data = fh.read()
        if not data:
            errors.append("committed file is empty: %s" % name)
            continue
        if not data.endswith(b"\n"):
            errors.append("committed file %s does not end with a newline (torn write?)" % name)
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        for lineno, line in enumerate(lines, 1):
            parts = line.split(b"\t")
            if len(parts) != 2 or not parts[0] or not parts[1].isdigit():
                errors.append("%s:%d: not word<TAB>count: %r" % (name, lineno, line[:80]))
                continue
            pairs.append((parts[0], int(parts[1])))
    return pairs, errors


def check_counts(expected, pairs, max_errors=20):
    """Compare (word, count) pairs with the expected occurrences. Returns a
    list of error strings (at most max_errors, then a summary)."""
    errors = []
    seen = collections.defaultdict(list)
    for w, c in pairs:
        seen[w].append(c)
    for w, counts in seen.items():
        n = expected.get(w, 0)
        if n == 0:
            errors.append("word %r is in the output but not in the input" % w)
            continue
        counts.sort()
        if counts == list(range(1, n + 1)):
            continue
        dup = sorted(c for c, k in collections.Counter(counts).items() if k > 1)
        missing = sorted(set(range(1, n + 1)) - set(counts))
        extra = sorted(c for c in set(counts) if c < 1 or c > n)
        msg = "word %r (n=%d):" % (w, n)
        if dup:
            msg += " duplicated counts %s" % dup[:10]
        if missing:
            msg += " missing counts %s" % missing[:10]
        if extra:
            msg += " counts out of range %s" % extra[:10]
        errors.append(msg)
    for w, n in expected.items():
        if w not in seen:
            errors.append("word %r (n=%d) is missing from the output" % (w, n))
    if len(errors) > max_errors:
        errors = errors[:max_errors] + ["... and %d more" % (len(errors) - max_errors)]
    return errors


def check_output(expected, out_dir, allow_dot_files=False):
    """Read out_dir's committed files and check them against `expected`
    (see expected_counts). Returns a list of error strings."""
    pairs, errors = read_output(out_dir, allow_dot_files)
    return errors + check_counts(expected, pairs)


def verify(chk, expected, out_dir, what="exactly-once output"):
    """check_output as one check of a cluster.Checks, named
    "check_counts: <what> (N words, M occurrences)" with the first errors as
    its detail. Returns whether it passed."""
    errors = check_output(expected, out_dir)
    return chk.ok(not errors, "check_counts: %s (%d words, %d occurrences)" %
                  (what, len(expected), sum(expected.values())), "; ".join(errors[:8]))


def prefix_errors(expected, pairs):
    """The output of a run stopped midway must be an exactly-once prefix:
    each word's counts 1..k once each, k <= its n. Returns a string per
    word that breaks this (empty when none does)."""
    seen = collections.defaultdict(list)
    for w, c in pairs:
        seen[w].append(c)
    return ["%r: %s (n=%d)" % (w, sorted(cs)[:12], expected.get(w, 0)) for w, cs in seen.items()
            if sorted(cs) != list(range(1, len(cs) + 1)) or len(cs) > expected.get(w, 0)]


def cli_run(c, chk, par, inp, out, what, expected=None):
    """`flinc run -p par wordcount.so --input inp --output out` on the
    cluster.Cluster c, to its end (240 s at most), as two checks: "<what>
    runs to FINISHED", and verify() of the output against `expected` (by
    default counted from inp). Returns whether both passed."""
    p = c.flinc("run", "-p", str(par), c.plugin(), "--input", inp, "--output", out, timeout=240)
    ran = chk.ok(p.returncode == 0, "%s runs to FINISHED" % what, p.stdout[-300:] + p.stderr)
    if expected is None:
        expected = expected_counts([inp])
    return verify(chk, expected, out, "its output") and ran
