#!/usr/bin/env python3
"""check_deploy.py - the checks of deploy/ that can run without systemd as
PID 1, a Docker engine or a Kubernetes cluster (issue 19, acceptance 7).

    python3 tests/deploy/check_deploy.py --source . --build build
    python3 tests/deploy/check_deploy.py --source . --build build --entrypoint

Default mode (ctest deploy.files, labels unit;deploy; fast, no network):
  systemd   `systemd-analyze verify` of both units in a scratch root that
            holds the build's daemons at /usr/local/bin (any warning fails),
            `systemd-analyze security --offline` below an exposure
            threshold, and the settings docs/deployment.md promises
            (dedicated user, /etc/flinc/flinc.conf, the secret as a
            credential, ProtectSystem=strict, Restart=on-failure, ...).
  compose   deploy/docker/compose.yaml parsed (PyYAML, Debian's
            python3-yaml): services, commands, ports, health checks,
            volumes, secrets, Kafka in KRaft mode at the project's version.
  k8s       every manifest in deploy/k8s parsed: kinds, names, selectors,
            ports against the ConfigMap and the defaults, probes, resources,
            the claim (ReadWriteMany), the Secret, the downward API.
  flinc.conf
            deploy/docker/flinc.conf, the ConfigMap's flinc.conf and every
            ```conf block of docs/deployment.md: each key is in the key
            table (base/conf_keys.c) and `flinc info --config FILE` (the
            daemons' own parser) takes every value without a warning.
  Dockerfile
            hadolint when it is on the PATH (Debian and npm have none);
            always a structural check: Debian bookworm base, a build stage
            that runs the project's cmake build, runtime packages from apt
            only (and every shared library the programs and jobs link
            against comes from one of them, by dpkg -S), a non-root USER,
            a HEALTHCHECK on REST /overview, exec-form ENTRYPOINT.

--entrypoint (ctest deploy.entrypoint, labels integration;deploy): runs
deploy/docker/entrypoint.sh with the build's daemons on loopback, the secret
given as a group-readable file as Kubernetes mounts it; checks that the task
manager registers, that the copy is 0600, and that SIGTERM stops both with
exit 0.

Exit 0 when every check passed, 1 otherwise, each failure on its own line.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import yaml
except ImportError:  # a python3 of its own on the PATH (pyenv): Debian's has python3-yaml
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath(
        "/usr/bin/python3"
    ):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("check_deploy: no PyYAML: install Debian's python3-yaml (scripts/install-deps.sh)")

FLINC_UID = 10001
failures = []


def fail(what, msg):
    failures.append("%s: %s" % (what, msg))
    print("FAIL %s: %s" % (what, msg))


def ok(what, msg):
    print("ok   %s: %s" % (what, msg))


def check(cond, what, msg):
    if cond:
        ok(what, msg)
    else:
        fail(what, msg)
    return cond


# ---- the configuration: key table and the daemons' parser -----------------------


def key_table(src):
    """Keys and defaults of base/conf_keys.c's table."""
    text = open(os.path.join(src, "base", "conf_keys.c")).read()
    body = text[text.index("keys[] = {") :]
    body = body[: body.index("\n};")]
    keys = {}
    for m in re.finditer(r'(?:\b[A-Z]+\(|\{\s*)"([a-z][A-Za-z0-9._-]*)",\s*([^\n]*)', body):
        strs = re.findall(r'"([^"]*)"', m.group(2))
        keys[m.group(1)] = strs[-1] if strs else None
    return keys


def parse_conf(text):
    """(key, value, line number) of a flinc.conf text, as base/conf.c reads it."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        s = re.sub(r"\s#.*$", "", s)
        if ":" not in s:
            out.append((None, s, n))
            continue
        k, v = s.split(":", 1)
        out.append((k.strip(), v.strip(), n))
    return out


class ConfChecker:
    def __init__(self, src, build):
        self.src = src
        self.build = build
        self.keys = key_table(src)
        self.flinc = os.path.join(build, "bin", "flinc")
        self.plugin = os.path.join(build, "jobs", "wordcount.so")

    def check(self, what, text):
        """Every key known, every value taken by flinc's parser; the dict."""
        conf = {}
        bad = []
        for k, v, n in parse_conf(text):
            if k is None:
                bad.append("line %d is not 'key: value'" % n)
            elif not (k in self.keys or k.startswith("user.") or k.startswith("kafka.")):
                bad.append("line %d: '%s' is not a key of base/conf_keys.c" % (n, k))
            else:
                conf[k] = v
        check(not bad, what, "%d keys, all in the key table%s" % (len(conf), "" if not bad else ": " + "; ".join(bad)))
        if not (os.access(self.flinc, os.X_OK) and os.path.exists(self.plugin)):
            fail(what, "no %s or %s to check the values with (build the tree)" % (self.flinc, self.plugin))
            return conf
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(text)
            path = f.name
        try:
            r = subprocess.run(
                [self.flinc, "info", "--config", path, self.plugin, "--input", os.path.join(self.src, "README.md")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                # this checks the configuration; leaks are other tests' business (ASan build)
                env=dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"),
            )
        finally:
            os.unlink(path)
        err = r.stderr.strip().replace(path, "FILE")
        check(r.returncode == 0 and not err, what, "flinc info --config takes every value%s" % (": " + err if err else ""))
        return conf

    def default(self, key):
        return self.keys.get(key)


# ---- systemd ------------------------------------------------------------------------


def unit_settings(path):
    """{(section, key): [values]} of a unit file."""
    out = {}
    sec = None
    for line in open(path):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            sec = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out.setdefault((sec, k.strip()), []).append(v.strip())
    return out


def check_systemd(src, build):
    sd = os.path.join(src, "deploy", "systemd")
    units = {"flinc-jobmanager.service": "flinc-jobmanager", "flinc-taskmanager@.service": "flinc-taskmanager"}
    for unit, prog in units.items():
        what = "systemd " + unit
        path = os.path.join(sd, unit)
        if not check(os.path.exists(path), what, "exists"):
            continue
        s = unit_settings(path)
        g = lambda k, sec="Service": s.get((sec, k), [])  # noqa: E731
        exec_start = " ".join(g("ExecStart"))
        check(g("User") == ["flinc"] and g("Group") == ["flinc"], what, "runs as the dedicated user flinc")
        check(
            exec_start.startswith("/usr/local/bin/%s " % prog) and "--config /etc/flinc/flinc.conf" in exec_start,
            what,
            "ExecStart runs /usr/local/bin/%s --config /etc/flinc/flinc.conf" % prog,
        )
        check(
            "cluster.secret:/etc/flinc/cluster.secret" in g("LoadCredential")
            and "security.cluster.secret=file:%d/cluster.secret" in exec_start,
            what,
            "the cluster secret comes as a credential (readable by the service user only) named by -D",
        )
        for k, want in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("ProtectHome", "yes"),
            ("PrivateDevices", "yes"),
            ("Restart", "on-failure"),
            ("RestartPreventExitStatus", "2"),
            ("KillSignal", "SIGTERM"),
            ("CapabilityBoundingSet", ""),
        ]:
            check(g(k) == [want], what, "%s=%s" % (k, want))
        check(any("/srv/flinc" in v for v in g("ReadWritePaths")), what, "ReadWritePaths has the shared folder /srv/flinc")
        check(bool(g("StateDirectory")), what, "StateDirectory for its own folder")
        nofile = g("LimitNOFILE")
        check(nofile and nofile[0].isdigit() and int(nofile[0]) >= 65536, what, "LimitNOFILE >= 65536")
        check(g("WantedBy", "Install") == ["multi-user.target"], what, "WantedBy=multi-user.target")
    sysusers = open(os.path.join(sd, "flinc.sysusers")).read()
    check(
        re.search(r"^u flinc %d\b" % FLINC_UID, sysusers, re.M) is not None,
        "systemd flinc.sysusers",
        "user flinc with uid %d (the image's)" % FLINC_UID,
    )

    exe = shutil.which("systemd-analyze")
    if not exe:
        print("SKIP systemd-analyze: not installed (Debian package systemd; scripts/install-deps.sh adds it)")
        return
    root = tempfile.mkdtemp(prefix="flinc-sd-")
    try:
        os.makedirs(os.path.join(root, "etc/systemd/system"))
        os.makedirs(os.path.join(root, "usr/local/bin"))
        os.makedirs(os.path.join(root, "usr/lib/systemd"))
        # systemd's own units (sysinit.target, ...) the units pull in.
        for d in ("/usr/lib/systemd/system", "/lib/systemd/system"):
            if os.path.isdir(d):
                shutil.copytree(d, os.path.join(root, "usr/lib/systemd/system"), symlinks=True)
                break
        for prog in units.values():
            b = os.path.join(build, "bin", prog)
            if os.path.exists(b):
                shutil.copy(b, os.path.join(root, "usr/local/bin", prog))
        # First a unit known to be good: does systemd-analyze run here at all?
        probe = os.path.join(root, "etc/systemd/system/flinc-probe.service")
        with open(probe, "w") as f:
            f.write("[Service]\nType=exec\nExecStart=/usr/local/bin/flinc-jobmanager\n")
        r = subprocess.run(
            [exe, "verify", "--root=" + root, "--man=no", "flinc-probe.service"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        os.unlink(probe)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            print(
                "SKIP systemd-analyze verify: it cannot verify even a trivial unit here: %s"
                % (r.stderr.strip() or r.stdout.strip() or "exit %d" % r.returncode)
            )
            return
        for unit in units:
            shutil.copy(os.path.join(sd, unit), os.path.join(root, "etc/systemd/system", unit))
        names = ["flinc-jobmanager.service", "flinc-taskmanager@1.service"]
        for name in names:
            r = subprocess.run(
                [exe, "verify", "--root=" + root, "--man=no", name], capture_output=True, text=True, timeout=60
            )
            out = (r.stdout + r.stderr).strip().replace(root, "")
            check(r.returncode == 0 and not out, "systemd-analyze verify " + name, "clean" if not out else out)
            r = subprocess.run(
                [exe, "security", "--offline=true", "--threshold=30", "--root=" + root, "--no-pager", name],
                capture_output=True,
                text=True,
                timeout=60,
            )
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
            level = float(m.group(1)) if m else None
            check(
                r.returncode == 0 and level is not None and level <= 3.0,
                "systemd-analyze security " + name,
                "exposure %s (at most 3.0)" % (level if level is not None else (r.stdout + r.stderr).strip()[-300:]),
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- Dockerfile -----------------------------------------------------------------------


def dockerfile_instructions(path):
    """[(INSTRUCTION, argument text)] with continuation lines joined."""
    out = []
    cur = ""
    for line in open(path):
        s = line.rstrip("\n")
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if cur and s.lstrip().startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        ins, _, arg = cur.strip().partition(" ")
        out.append((ins.upper(), arg.strip()))
        cur = ""
    return out


def lib_packages(files):
    """Debian packages of the shared libraries files link against, by dpkg -S."""
    libs = set()
    for f in files:
        r = subprocess.run(["ldd", f], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            m = re.search(r"=>\s*(/\S+)", line)
            if m:
                libs.add(os.path.realpath(m.group(1)))
    pkgs = {}
    for lib in sorted(libs):
        r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        if r.returncode != 0:  # /usr/lib vs /lib (merged /usr)
            r = subprocess.run(["dpkg", "-S", re.sub(r"^/usr/lib/", "/lib/", lib)], capture_output=True, text=True)
        if r.returncode == 0:
            pkgs[lib] = r.stdout.split(":")[0].strip()
        else:
            pkgs[lib] = None
    return pkgs


def check_dockerfile(src, build, tm_ports):
    what = "Dockerfile"
    path = os.path.join(src, "deploy", "docker", "Dockerfile")
    hl = shutil.which("hadolint")
    if hl:
        r = subprocess.run([hl, path], capture_output=True, text=True)
        check(r.returncode == 0, "hadolint", "clean" if r.returncode == 0 else (r.stdout + r.stderr).strip())
    else:
        print("note hadolint: not on the PATH (neither Debian nor npm packages it): structural checks only")
    ins = dockerfile_instructions(path)
    args = {}
    for i, a in ins:
        if i == "ARG" and "=" in a:
            k, v = a.split("=", 1)
            args[k] = v
    expand = lambda s: re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s)  # noqa: E731
    stages = []
    for n, (i, a) in enumerate(ins):
        if i == "FROM":
            parts = expand(a).split()
            stages.append({"image": parts[0], "name": parts[2] if len(parts) > 2 else None, "ins": []})
        elif stages:
            stages[-1]["ins"].append((i, a))
    check(len(stages) >= 2, what, "multi-stage (%d stages)" % len(stages))
    check(
        all(re.fullmatch(r"debian:bookworm(-slim)?", s["image"]) for s in stages),
        what,
        "every stage is Debian bookworm (%s)" % ", ".join(s["image"] for s in stages),
    )
    if len(stages) < 2:
        return
    buildst, final = stages[0], stages[-1]
    brun = " ".join(a for i, a in buildst["ins"] if i == "RUN")
    check(
        "cmake -S . -B build" in brun and "cmake --build build" in brun and "cmake --install build" in brun,
        what,
        "the build stage runs the project's build (cmake configure, build, install)",
    )
    install_deps = open(os.path.join(src, "scripts", "install-deps.sh")).read()
    need = set(re.findall(r"\b(lib[a-z0-9-]+-dev|protobuf-c-compiler)\b", install_deps)) - {"libsimdjson-dev"}
    missing = sorted(p for p in need if not re.search(r"\b%s\b" % re.escape(p), brun))
    check(not missing, what, "the build stage installs the libraries scripts/install-deps.sh builds with" + (": missing " + " ".join(missing) if missing else ""))
    check(
        any(i == "COPY" and a.startswith("--from=" + (buildst["name"] or "0")) for i, a in final["ins"]),
        what,
        "the final stage copies the build's install from the build stage",
    )
    runs = [a for i, a in final["ins"] if i == "RUN"]
    apt = [a for a in runs if "apt-get install" in a]
    check(bool(apt), what, "runtime packages come from apt-get install")
    for a in apt:
        check("--no-install-recommends" in a and "rm -rf /var/lib/apt/lists" in a and "apt-get update" in a, what,
              "apt-get update, install --no-install-recommends and list cleanup in one RUN")
    all_runs = " ".join(a for s in stages for i, a in s["ins"] if i == "RUN")
    check(
        not re.search(r"(curl|wget)[^|;&]*\|\s*(ba)?sh|pip3? install|npm install -g|\bADD\s+https?:", all_runs)
        and not any(i == "ADD" for s in stages for i, a in s["ins"]),
        what,
        "nothing fetched outside apt (npm ci of the web UI's lock file aside)",
    )
    runtime_pkgs = set()
    for a in apt:
        runtime_pkgs |= set(re.findall(r"\b([a-z0-9][a-z0-9.+-]+[a-z0-9])\b", a.split("install", 1)[1]))
    if shutil.which("dpkg") and shutil.which("ldd"):
        files = [os.path.join(build, "bin", p) for p in ("flinc", "flinc-jobmanager", "flinc-taskmanager", "flinc-gen")]
        files += [os.path.join(build, "jobs", f) for f in os.listdir(os.path.join(build, "jobs")) if f.endswith(".so")]
        files = [f for f in files if os.path.exists(f)]
        libpkgs = lib_packages(files)
        # Pulled in by the packages named (libc6, libstdc++6, ...): only the
        # libraries flinc itself links against directly must be named.
        direct = {"libnng", "libprotobuf-c", "librocksdb", "librdkafka", "libjansson"}
        unnamed = sorted(
            {p for p in libpkgs.values() if p and any(p.startswith(d) for d in direct) and p not in runtime_pkgs}
        )
        check(
            not unnamed,
            what,
            "the runtime stage installs every library package the programs and jobs link against (%s)"
            % (", ".join(sorted({p for p in libpkgs.values() if p and any(p.startswith(d) for d in direct)})))
            + (": missing " + " ".join(unnamed) if unnamed else ""),
        )
    else:
        print("note Dockerfile: no dpkg/ldd here: the runtime package list is not compared with the libraries")
    users = [a for i, a in final["ins"] if i == "USER"]
    check(bool(users) and users[-1] not in ("root", "0") and not users[-1].startswith("0:"), what, "runs as a non-root USER (%s)" % (users[-1] if users else "none"))
    check("--uid %d" % FLINC_UID in " ".join(runs), what, "the user has uid %d" % FLINC_UID)
    hc = [a for i, a in final["ins"] if i == "HEALTHCHECK"]
    check(bool(hc) and "/overview" in hc[-1] and ":8081/" in hc[-1], what, "HEALTHCHECK on REST :8081/overview")
    ep = [a for i, a in final["ins"] if i == "ENTRYPOINT"]
    check(bool(ep) and ep[-1].startswith("["), what, "ENTRYPOINT in exec form (signals reach the daemon)")
    exposed = set()
    for i, a in final["ins"]:
        if i == "EXPOSE":
            exposed |= {int(p.split("/")[0]) for p in a.split()}
    want = {6123, 8081} | set(tm_ports)
    check(want <= exposed, what, "EXPOSE %s" % " ".join(map(str, sorted(want))))
    for s in stages:
        for i, a in s["ins"]:
            if i == "COPY" and not a.startswith("--from"):
                srcs = [w for w in a.split() if not w.startswith("--")][:-1]
                for w in srcs:
                    if w != ".":
                        check(os.path.exists(os.path.join(src, w)), what, "COPY source %s exists" % w)
    ignore = os.path.join(src, "deploy", "docker", "Dockerfile.dockerignore")
    ign = open(ignore).read() if os.path.exists(ignore) else ""
    check("build*/" in ign and "**/.env" in ign, what, "Dockerfile.dockerignore keeps build folders and compose's .env (the secret) out of the context")
    ep_sh = os.path.join(src, "deploy", "docker", "entrypoint.sh")
    r = subprocess.run(["sh", "-n", ep_sh], capture_output=True, text=True)
    check(r.returncode == 0, "entrypoint.sh", "sh -n parses it" + (": " + r.stderr.strip() if r.returncode else ""))
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", "-s", "sh", ep_sh], capture_output=True, text=True)
        check(r.returncode == 0, "entrypoint.sh", "shellcheck clean" + (": " + r.stdout.strip() if r.returncode else ""))


# ---- compose ---------------------------------------------------------------------------


def check_compose(src, conf_checker):
    what = "compose.yaml"
    ddir = os.path.join(src, "deploy", "docker")
    conf = conf_checker.check("docker/flinc.conf", open(os.path.join(ddir, "flinc.conf")).read())
    d = yaml.safe_load(open(os.path.join(ddir, "compose.yaml")))
    svcs = d.get("services", {})
    check(
        {"jobmanager", "taskmanager-1", "taskmanager-2", "kafka"} <= set(svcs),
        what,
        "services jobmanager, taskmanager-1, taskmanager-2, kafka (%s)" % ", ".join(sorted(svcs)),
    )
    rest_port = int(conf.get("rest.port", conf_checker.default("rest.port")))
    rpc_port = int(conf.get("jobmanager.rpc.port", conf_checker.default("jobmanager.rpc.port")))
    check(rest_port == 8081 and rpc_port == 6123, what, "flinc.conf keeps REST 8081 and RPC 6123 (DESIGN.md)")
    check(
        conf.get("jobmanager.rpc.address") == "jobmanager" and conf.get("rest.bind-address") == "0.0.0.0",
        what,
        "flinc.conf: task managers dial 'jobmanager', REST on every interface",
    )
    vols = set((d.get("volumes") or {}).keys())
    secrets = set((d.get("secrets") or {}).keys())
    for name in ("jobmanager", "taskmanager-1", "taskmanager-2"):
        s = svcs.get(name)
        if not s:
            continue
        w = "%s %s" % (what, name)
        b = s.get("build") or {}
        check(
            b.get("dockerfile") == "deploy/docker/Dockerfile"
            and os.path.isfile(os.path.join(ddir, b.get("context", ""), b.get("dockerfile", ""))),
            w,
            "built from deploy/docker/Dockerfile with the tree as context",
        )
        cmd = s.get("command") or []
        role = "jobmanager" if name == "jobmanager" else "taskmanager"
        check(cmd[:1] == [role], w, "command starts the %s" % role)
        mounts = s.get("volumes") or []
        check(
            any(m.split(":")[1] == "/etc/flinc/flinc.conf" and os.path.isfile(os.path.join(ddir, m.split(":")[0])) for m in mounts),
            w,
            "flinc.conf mounted at /etc/flinc/flinc.conf",
        )
        named = [m.split(":") for m in mounts if not m.startswith(".") and not m.startswith("/")]
        shared = [m for m in named if m[0] in vols and m[1] == "/flinc"]
        check(bool(shared), w, "a named volume at /flinc")
        for k in ("state.checkpoints.dir", "state.savepoints.dir", "high-availability.storageDir"):
            check(conf.get(k, "").startswith("/flinc/"), w, "%s lies on that volume (%s)" % (k, conf.get(k)))
        ss = s.get("secrets") or []
        env = s.get("environment") or {}
        check(
            any((x.get("source") if isinstance(x, dict) else x) in secrets for x in ss)
            and env.get("FLINC_CLUSTER_SECRET_FILE", "").startswith("/run/secrets/"),
            w,
            "the cluster secret from a compose secret, named by FLINC_CLUSTER_SECRET_FILE",
        )
        hc = " ".join((s.get("healthcheck") or {}).get("test") or [])
        if role == "jobmanager":
            check("-D jobmanager.rpc.address=0.0.0.0" in " ".join(cmd), w, "listens for task managers on every interface")
            check(any(str(p).endswith(":%d" % rest_port) for p in s.get("ports") or []), w, "publishes REST %d" % rest_port)
            check("/overview" in hc and ":%d/" % rest_port in hc, w, "health check on REST /overview")
        else:
            check(
                "taskmanager.host=%s" % s.get("hostname") in " ".join(cmd),
                w,
                "taskmanager.host is its own host name (%s)" % s.get("hostname"),
            )
            check("/taskmanagers" in hc and s.get("hostname", "?") in hc, w, "health check: the job manager lists it")
    k = svcs.get("kafka") or {}
    env = {str(a): str(b) for a, b in (k.get("environment") or {}).items()}
    pom = open(os.path.join(src, "tests", "peers", "kafka", "pom.xml")).read()
    kv = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    check(k.get("image") == "apache/kafka:" + kv, what + " kafka", "image apache/kafka:%s (tests/peers/kafka/pom.xml)" % kv)
    check(
        set(env.get("KAFKA_PROCESS_ROLES", "").split(",")) == {"broker", "controller"}
        and "KAFKA_CONTROLLER_QUORUM_VOTERS" in env
        and not any("ZOOKEEPER" in e for e in env),
        what + " kafka",
        "KRaft mode (broker and controller in one node, no ZooKeeper)",
    )
    check("PLAINTEXT://kafka:9092" in env.get("KAFKA_ADVERTISED_LISTENERS", ""), what + " kafka", "advertises kafka:9092 to the other containers")
    check(any(m.split(":")[0] in vols for m in k.get("volumes") or []), what + " kafka", "its log in a named volume")


# ---- Kubernetes --------------------------------------------------------------------------


def port_of(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_k8s(src, conf_checker):
    kdir = os.path.join(src, "deploy", "k8s")
    objs = []
    files = sorted(f for f in os.listdir(kdir) if f.endswith(".yaml"))
    for f in files:
        for doc in yaml.safe_load_all(open(os.path.join(kdir, f))):
            if doc:
                objs.append((f, doc))
    manifests = [(f, o) for f, o in objs if o.get("kind") != "Kustomization"]
    by = {}
    for f, o in manifests:
        check("apiVersion" in o and "kind" in o and "name" in (o.get("metadata") or {}), "k8s " + f, "%s has apiVersion, kind and a name" % o.get("kind"))
        by.setdefault(o["kind"], []).append(o)
    what = "k8s"
    kinds = {k: len(v) for k, v in by.items()}
    check(
        kinds.get("Deployment") == 1 and kinds.get("StatefulSet") == 1 and kinds.get("Service") == 2
        and kinds.get("ConfigMap") == 1 and kinds.get("PersistentVolumeClaim") == 1 and kinds.get("Secret") == 1
        and kinds.get("Namespace") == 1,
        what,
        "kinds %s" % ", ".join("%s x%d" % kv for kv in sorted(kinds.items())),
    )
    ns = by.get("Namespace", [{}])[0].get("metadata", {}).get("name")
    check(
        all(o["metadata"].get("namespace") == ns for f, o in manifests if o["kind"] != "Namespace"),
        what,
        "every object in the namespace %s" % ns,
    )
    kust = [o for f, o in objs if o.get("kind") == "Kustomization"]
    if check(bool(kust), what, "kustomization.yaml"):
        res = kust[0].get("resources") or []
        check(
            all(os.path.exists(os.path.join(kdir, r)) for r in res)
            and set(res) == set(f for f in files if f not in ("kustomization.yaml", "secret.yaml")),
            what,
            "kustomization lists every manifest but the Secret's placeholder (%s)" % " ".join(res),
        )
    cms = by.get("ConfigMap", [])
    conf = {}
    if cms:
        cm = cms[0]
        text = (cm.get("data") or {}).get("flinc.conf")
        if check(bool(text), what, "ConfigMap %s holds flinc.conf" % cm["metadata"]["name"]):
            conf = conf_checker.check("k8s ConfigMap flinc.conf", text)
    rest_port = int(conf.get("rest.port", conf_checker.default("rest.port")))
    rpc_port = int(conf.get("jobmanager.rpc.port", conf_checker.default("jobmanager.rpc.port")))
    check(rest_port == 8081 and rpc_port == 6123, what, "ConfigMap keeps REST 8081 and RPC 6123 (DESIGN.md)")
    tm_ctl = int(conf.get("taskmanager.rpc.port", "0"))
    tm_data = int(conf.get("taskmanager.data.port", "0"))
    check(tm_ctl > 0 and tm_data > 0, what, "task manager ports fixed (control %d, data %d)" % (tm_ctl, tm_data))
    secrets = {o["metadata"]["name"]: o for o in by.get("Secret", [])}
    for s in secrets.values():
        data = s.get("stringData") or {}
        check("cluster.secret" in data, what, "Secret %s has the key cluster.secret" % s["metadata"]["name"])
        check(len(str(data.get("cluster.secret", "")).encode()) < 16, what, "its placeholder is too short to run with (16 bytes at least)")
    pvcs = {o["metadata"]["name"]: o for o in by.get("PersistentVolumeClaim", [])}
    for p in pvcs.values():
        check("ReadWriteMany" in p["spec"].get("accessModes", []), what, "claim %s is ReadWriteMany" % p["metadata"]["name"])
        check(bool(p["spec"].get("resources", {}).get("requests", {}).get("storage")), what, "claim %s requests storage" % p["metadata"]["name"])
    services = {o["metadata"]["name"]: o for o in by.get("Service", [])}

    def pod_checks(w, tmpl, role):
        spec = tmpl["spec"]
        c = spec["containers"][0]
        sc = spec.get("securityContext") or {}
        check(sc.get("runAsNonRoot") is True and sc.get("runAsUser") == FLINC_UID and sc.get("fsGroup") == FLINC_UID, w, "runs as uid %d, not root" % FLINC_UID)
        csc = c.get("securityContext") or {}
        check(csc.get("allowPrivilegeEscalation") is False and "ALL" in (csc.get("capabilities") or {}).get("drop", []), w, "no privilege escalation, no capabilities")
        check((c.get("args") or [])[:1] == [role], w, "args start the %s" % role)
        res = c.get("resources") or {}
        check(
            all(k in (res.get(x) or {}) for x in ("requests", "limits") for k in ("cpu", "memory")),
            w,
            "resource requests and limits (cpu, memory)",
        )
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
        cfg = mounts.get("/etc/flinc/flinc.conf")
        check(
            cfg is not None and cfg.get("subPath") == "flinc.conf"
            and (vols.get(cfg["name"], {}).get("configMap") or {}).get("name") in [m["metadata"]["name"] for m in cms],
            w,
            "the ConfigMap's flinc.conf at /etc/flinc/flinc.conf",
        )
        st = mounts.get("/flinc")
        claim = (vols.get(st["name"], {}).get("persistentVolumeClaim") or {}).get("claimName") if st else None
        check(claim in pvcs, w, "the claim %s at /flinc" % claim)
        for k in ("state.checkpoints.dir", "state.savepoints.dir", "high-availability.storageDir"):
            check(conf.get(k, "").startswith("/flinc/"), w, "%s on the claim (%s)" % (k, conf.get(k)))
        env = {e["name"]: e for e in c.get("env") or []}
        sf = (env.get("FLINC_CLUSTER_SECRET_FILE") or {}).get("value", "")
        smount = [m for p, m in mounts.items() if sf.startswith(p + "/")]
        sname = (vols.get(smount[0]["name"], {}).get("secret") or {}).get("secretName") if smount else None
        check(sname in secrets and sf.endswith("/cluster.secret"), w, "FLINC_CLUSTER_SECRET_FILE in the Secret %s's mount" % sname)
        run = mounts.get("/run/flinc")
        check(run is not None and (vols.get(run["name"], {}).get("emptyDir") or {}).get("medium") == "Memory", w, "the secret's copy in a memory volume at /run/flinc")
        if csc.get("readOnlyRootFilesystem"):
            check("/tmp" in mounts and "/var/lib/flinc" in mounts, w, "read-only root with writable /tmp and /var/lib/flinc")
        # Every $(VAR) in args is an env of the container (else Kubernetes leaves it as is).
        refs = set(re.findall(r"\$\((\w+)\)", " ".join(c.get("args") or [])))
        check(refs <= set(env), w, "every $(VAR) of args is defined (%s)" % " ".join(sorted(refs)))
        return c, env

    deps = by.get("Deployment", [])
    if deps:
        dep = deps[0]
        w = "k8s Deployment " + dep["metadata"]["name"]
        check(dep["spec"].get("replicas") == 1 and dep["spec"].get("strategy", {}).get("type") == "Recreate", w, "one replica, Recreate (never two job managers on one job store)")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        sel = dep["spec"]["selector"]["matchLabels"]
        check(all(labels.get(k) == v for k, v in sel.items()), w, "selector matches the pod labels")
        c, env = pod_checks(w, dep["spec"]["template"], "jobmanager")
        check("jobmanager.rpc.address=0.0.0.0" in " ".join(c.get("args") or []), w, "listens for task managers on every interface")
        ports = {p.get("containerPort") for p in c.get("ports") or []}
        check({rest_port, rpc_port} <= ports, w, "container ports %d and %d" % (rest_port, rpc_port))
        for probe in ("livenessProbe", "readinessProbe"):
            pr = c.get(probe) or {}
            hg = pr.get("httpGet") or {}
            check(hg.get("path") == "/overview" and port_of(c, hg.get("port")) == rest_port, w, "%s on REST %d/overview" % (probe, rest_port))
        svc = [s for s in services.values() if all(s["spec"].get("selector", {}).get(k) == labels.get(k) for k in s["spec"].get("selector", {})) and s["spec"].get("clusterIP") != "None"]
        if check(len(svc) == 1, w, "a Service selects it"):
            s = svc[0]
            sp = {p["port"]: port_of(c, p.get("targetPort", p["port"])) for p in s["spec"]["ports"]}
            check(sp.get(rest_port) == rest_port and sp.get(rpc_port) == rpc_port, w, "Service %s: REST %d and RPC %d" % (s["metadata"]["name"], rest_port, rpc_port))
            check(conf.get("jobmanager.rpc.address") == s["metadata"]["name"], w, "task managers dial the Service (jobmanager.rpc.address: %s)" % conf.get("jobmanager.rpc.address"))
    sts = by.get("StatefulSet", [])
    if sts:
        st = sts[0]
        w = "k8s StatefulSet " + st["metadata"]["name"]
        labels = st["spec"]["template"]["metadata"]["labels"]
        sel = st["spec"]["selector"]["matchLabels"]
        check(all(labels.get(k) == v for k, v in sel.items()), w, "selector matches the pod labels")
        hs = services.get(st["spec"].get("serviceName"))
        check(
            hs is not None and hs["spec"].get("clusterIP") == "None" and hs["spec"].get("publishNotReadyAddresses") is True
            and all(labels.get(k) == v for k, v in hs["spec"].get("selector", {}).items()),
            w,
            "serviceName is a headless Service that selects it and publishes addresses before readiness",
        )
        c, env = pod_checks(w, st["spec"]["template"], "taskmanager")
        check(
            (env.get("POD_NAME", {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"
            and (env.get("POD_NAMESPACE", {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace",
            w,
            "POD_NAME and POD_NAMESPACE from the downward API",
        )
        host = [a for a in c.get("args") or [] if a.startswith("taskmanager.host=")]
        check(
            bool(host) and host[0].startswith("taskmanager.host=$(POD_NAME).%s.$(POD_NAMESPACE).svc." % st["spec"].get("serviceName")),
            w,
            "taskmanager.host is the pod's DNS name (%s)" % (host[0] if host else "none"),
        )
        ports = {p.get("containerPort") for p in c.get("ports") or []}
        check({tm_ctl, tm_data} <= ports, w, "container ports %d and %d (ConfigMap)" % (tm_ctl, tm_data))
        if hs:
            check({p["port"] for p in hs["spec"]["ports"]} == {tm_ctl, tm_data}, w, "headless Service ports %d and %d" % (tm_ctl, tm_data))
        lp = c.get("livenessProbe") or {}
        check(port_of(c, (lp.get("tcpSocket") or {}).get("port")) == tm_ctl, w, "livenessProbe on the control port %d" % tm_ctl)


# ---- docs ------------------------------------------------------------------------------


def check_docs(src, conf_checker):
    path = os.path.join(src, "docs", "deployment.md")
    if not check(os.path.exists(path), "docs/deployment.md", "exists"):
        return
    text = open(path).read()
    blocks = re.findall(r"```conf\n(.*?)```", text, re.S)
    check(len(blocks) >= 1, "docs/deployment.md", "%d flinc.conf blocks" % len(blocks))
    for i, b in enumerate(blocks, 1):
        conf_checker.check("docs/deployment.md conf block %d" % i, b)
    for f in re.findall(r"\]\(\.\./(deploy/[^)#]+)\)", text):
        check(os.path.exists(os.path.join(src, f)), "docs/deployment.md", "link %s exists" % f)
    readme = open(os.path.join(src, "README.md")).read()
    check("docs/deployment.md" in readme, "README.md", "links docs/deployment.md")


# ---- the entrypoint, run -----------------------------------------------------------------


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run_entrypoint(src, build):
    ep = os.path.join(src, "deploy", "docker", "entrypoint.sh")
    tmp = tempfile.mkdtemp(prefix="flinc-ep-")
    procs = []
    try:
        rest, rpc, ctl, data = free_port(), free_port(), free_port(), free_port()
        conf = os.path.join(tmp, "flinc.conf")
        with open(conf, "w") as f:
            f.write(
                "jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: %d\nrest.bind-address: 127.0.0.1\n"
                "rest.port: %d\ntaskmanager.rpc.port: %d\ntaskmanager.data.port: %d\n" % (rpc, rest, ctl, data)
            )
        secret = os.path.join(tmp, "mounted-secret")
        with open(secret, "w") as f:
            f.write(os.urandom(24).hex() + "\n")
        os.chmod(secret, 0o440)  # as Kubernetes mounts a Secret for fsGroup
        base_env = dict(os.environ, FLINC_CONF=conf, FLINC_CLUSTER_SECRET_FILE=secret, FLINC_BIN_DIR=os.path.join(build, "bin"))
        logs = {}
        for role, extra in (("jobmanager", ["-D", "jobmanager.rpc.address=0.0.0.0"]), ("taskmanager", ["-D", "taskmanager.host=localhost"])):
            env = dict(base_env, FLINC_RUNTIME_DIR=os.path.join(tmp, "run-" + role))
            logs[role] = open(os.path.join(tmp, role + ".log"), "w+")
            procs.append((role, subprocess.Popen(["sh", ep, role] + extra, env=env, stdout=logs[role], stderr=subprocess.STDOUT)))
        n = None
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/overview" % rest, timeout=2).read().decode()
                m = re.search(r'"taskmanagers":\s*(\d+)', body)
                n = int(m.group(1)) if m else None
                if n == 1:
                    break
            except OSError:
                pass
            if any(p.poll() is not None for _, p in procs):
                break
            time.sleep(0.2)
        check(n == 1, "entrypoint", "the job manager and a task manager started by it, the task manager registered")
        for role in ("jobmanager", "taskmanager"):
            copy = os.path.join(tmp, "run-" + role, "cluster.secret")
            mode = stat.S_IMODE(os.stat(copy).st_mode) if os.path.exists(copy) else None
            check(mode == 0o600, "entrypoint", "%s: the secret copied with mode 0600 (%s)" % (role, oct(mode) if mode is not None else "absent"))
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        t0 = time.time()
        for role, p in procs:
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, "entrypoint", "%s exits 0 on SIGTERM (%s, %.1f s)" % (role, rc, time.time() - t0))
        for role, f in logs.items():
            f.seek(0)
            out = f.read()
            check("listening on loopback only" not in out and "security.cluster.secret:" not in out, "entrypoint", "%s loaded the secret (no loopback-only or secret error line)" % role)
            if role == "jobmanager":
                check("cluster secret required" in out, "entrypoint", "the job manager says every connection needs the secret")
            if failures:
                print("---- %s log\n%s" % (role, out[-3000:]))
        r = subprocess.run(["sh", ep, "jobmanager"], env=dict(base_env, FLINC_CLUSTER_SECRET_FILE=os.path.join(tmp, "none")), capture_output=True, text=True, timeout=20)
        check(r.returncode == 2 and "cannot read the secret file" in r.stderr, "entrypoint", "a missing secret file: exit 2 with one line (%s)" % r.stderr.strip())
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--entrypoint", action="store_true", help="run the container entrypoint with the build's daemons")
    a = ap.parse_args()
    src, build = os.path.abspath(a.source), os.path.abspath(a.build)
    if a.entrypoint:
        run_entrypoint(src, build)
    else:
        cc = ConfChecker(src, build)
        dconf = {k: v for k, v, _ in parse_conf(open(os.path.join(src, "deploy", "docker", "flinc.conf")).read())}
        tm_ports = [int(dconf[k]) for k in ("taskmanager.rpc.port", "taskmanager.data.port") if k in dconf]
        check_systemd(src, build)
        check_dockerfile(src, build, tm_ports)
        check_compose(src, cc)
        check_k8s(src, cc)
        check_docs(src, cc)
    if failures:
        print("\n%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("\nall deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
