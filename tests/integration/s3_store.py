#!/usr/bin/env python3
"""The S3 client (base/store_s3.c) against a real S3-compatible server:
s3proxy (tests/peers/s3proxy/s3proxy.py, filesystem store) on a free
loopback port, and the unit test store_test run against it
(FLINC_TEST_S3_ENDPOINT set): the store conformance cases, wrong secret,
missing bucket and the mirror's push, pull and remove. Then the objects
s3proxy holds are compared with what the test left (nothing)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers", "s3proxy"))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import s3proxy  # noqa: E402


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    exe = os.path.join(a.build, "tests", "store_test")
    with s3proxy.S3Proxy(buckets=["flinc-test"]) as s:
        env = dict(os.environ, FLINC_TEST_S3_ENDPOINT=s.endpoint, FLINC_TEST_S3_BUCKET="flinc-test",
                   FLINC_TEST_S3_ACCESS_KEY=s.access_key, FLINC_TEST_S3_SECRET_KEY=s.secret_key)
        p = subprocess.run([exe], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
        out = p.stdout.decode(errors="replace")
        print(out)
        chk.ok(p.returncode == 0, "store_test passes against s3proxy", "exit %d" % p.returncode)
        chk.ok("SKIPPED" not in out, "no S3 case skipped")
        left = s.keys("flinc-test")
        chk.ok(left == [], "the tests left no object in the bucket", left[:10])
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
