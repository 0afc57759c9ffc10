# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the Debian package (packaging/debian/, `make deb`).

It installs a package on this machine, so it runs only when AIGW_TEST_DEB=1,
as root (.ci/run sets it on a fresh CI machine); otherwise every case is
reported as skipped. It refuses to run where aigw is or was installed.

Enabled, it builds the .deb with `make deb` in the build tree (or takes
AIGW_DEB, a .deb built already), checks what it holds, installs it with
dpkg -i, runs `aigw -t` on the installed configuration, starts the installed
aigw the way its systemd unit does (with systemctl when systemd runs; else as
the aigw user, in the folders systemd would make, on free ports), sends a
chat completion through it to the mock, reloads it with the unit's
ExecReload, checks the admin key made at install (0640 root:aigw: the Admin
API asks for it, nobody neither reads it nor creates an API key, root's
aigwctl needs no flag), rotates its log with the package's logrotate file, stops it,
runs README.md's recipe without systemd as written (taken from between its
markers: aigw -d as the aigw user, a secret from /etc/default/aigw, a chat
completion, aigwctl stop, its log on stderr), reinstalls the package (an
upgrade keeps the LMDB file, an edited conffile and the admin key; without
systemd, an aigw running then moves to the new binary), removes it
while aigw runs (prerm stops it, systemd or not: no aigw is left on a deleted
binary; /run/aigw goes), purges it, and checks that nothing is left: no
process, no /etc/aigw, /var/lib/aigw, /var/log/aigw, /run/aigw, no aigw user.

Whatever fails, it stops what it started (by PID) and purges the package.
"""

import grp
import os
import pwd
import re
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, HTTP_TIMEOUT, MOCK_KEY, SRCDIR, START_TIMEOUT, STOP_TIMEOUT, TAP, Mock,
        TestFailure, chat_body, check, check_eq, children_of, free_port, last_header,
        make_tmpdir, pid_alive, proc_exe, register_cleanup, request, to_yaml, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

# Building the package takes a minute or two: more than a test file's usual deadline.
tap = TAP(deadline=900)

ENABLED = os.environ.get("AIGW_TEST_DEB") == "1"
BUILDDIR = os.environ.get("AIGW_BUILDDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(AIGW_BIN)))

PKG = "aigw"
SBIN = "/usr/sbin/aigw"
CTL = "/usr/sbin/aigwctl"
CONF = "/etc/aigw/aigw.yaml"
RESOURCES = "/etc/aigw/resources.yaml"
ADMIN_KEY_FILE = "/etc/aigw/admin.key"
UNIT = "/lib/systemd/system/aigw.service"
LOGROTATE = "/etc/logrotate.d/aigw"
RUN_DIR = "/run/aigw"
STATE_DIR = "/var/lib/aigw"
LOG_DIR = "/var/log/aigw"
ACCESS_LOG = LOG_DIR + "/access.log"
# What the machine must not have before (the test would destroy it) and must
# not have after the purge.
LEFTOVERS = ("/etc/aigw", STATE_DIR, LOG_DIR, RUN_DIR, SBIN, CTL, UNIT, LOGROTATE,
             "/etc/default/aigw")
# Ports of the packaged aigw.yaml.
PACKAGED_PORTS = ("127.0.0.1:8080", "127.0.0.1:9180", "127.0.0.1:9190")
CLIENT_KEY = "sk-deb-test"
# Files of the package that dpkg keeps on remove and deletes on purge.
CONFFILES = ("/etc/aigw/aigw.yaml", "/etc/aigw/resources.yaml", "/etc/default/aigw",
             "/etc/logrotate.d/aigw")
# At least these; every man page in the package is checked.
MAN_PAGES = (("8", "aigw"), ("5", "aigw.yaml"), ("5", "aigw-resources"), ("7", "aigw-admin"))
# A clean environment, as systemd gives a service, and its User= and Group=.
SERVICE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
AS_AIGW = ["setpriv", "--reuid=aigw", "--regid=aigw", "--init-groups", "--no-new-privs"]
# Any local user: the Admin API must not let it change the configuration.
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--no-new-privs"]


class Skip(Exception):
    """A case that cannot run here (the reason is printed with # SKIP)."""


def run(args, timeout=120, env=None, **kw):
    """Run a command; a CompletedProcess with text stdout and stderr."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env, **kw)


def run_ok(args, what, timeout=120, env=None):
    """Run a command that must exit 0; its CompletedProcess."""
    p = run(args, timeout=timeout, env=env)
    check(p.returncode == 0, "%s: `%s` exited %d:\n%s%s", what, " ".join(args), p.returncode,
          p.stdout[-3000:], p.stderr[-3000:])
    return p


def dpkg_env():
    env = dict(SERVICE_ENV)
    env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


def make_env():
    """Our environment without the jobserver of the `make check` we run under."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def pkg_status():
    """dpkg's status of aigw ("install ok installed", ...), or "" when unknown."""
    p = run(["dpkg-query", "-W", "-f", "${Status}", PKG])
    return p.stdout.strip() if p.returncode == 0 else ""


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def aigw_processes():
    """{pid: argv} of every process running the installed aigw (or the file
    it was, deleted by a remove)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if proc_exe(pid) not in (SBIN, SBIN + " (deleted)") or not pid_alive(pid):
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                out[pid] = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
    return out


def proc_uid(pid):
    """The real UID of pid."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise TestFailure("no Uid line for pid %d" % pid)


def owner_mode(path):
    """(user, group, mode) of path."""
    st = os.stat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def check_owner_mode(path, user, group, mode):
    check_eq(owner_mode(path), (user, group, mode), "owner, group and mode of %s" % path)


def unit_command(key):
    """The command line of ExecReload= (or another Exec key) of the installed unit."""
    with open(UNIT) as f:
        for line in f:
            if line.startswith(key + "="):
                return shlex.split(line.split("=", 1)[1].lstrip("-@+!:"))
    raise TestFailure("%s has no %s=" % (UNIT, key))


def resources(mock_port, models=("deb-gpt",)):
    """Models on the mock (the provider key written out: the service's
    environment does not have ours) and one client key."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    return {
        "models": [{"name": m, "provider": "openai-compatible", "model": "mock-1",
                    "api_base": base, "api_key": MOCK_KEY} for m in models],
        "api_keys": [{"name": "deb-test", "key": CLIENT_KEY, "allowed_models": ["deb-*"]}],
    }


def write_in_place(path, text):
    """Rewrite a file keeping its inode, owner and mode (a conffile the
    package made root:aigw 0640)."""
    with open(path, "w") as f:
        f.write(text)


class Deb:
    """The package's life on this machine, and its cleanup."""

    def __init__(self):
        self.deb = None            # path of the .deb
        self.installed = False     # by us, maybe half-way, not yet purged: purge it
        self.usable = False        # installed and configured
        self.files = []            # dpkg -L aigw after the install
        self.systemd = os.path.isdir("/run/systemd/system")
        self.mock = None
        self.port = None           # the client port of the running aigw
        self.conf = CONF           # the aigw.yaml it runs with
        self.master = None         # its master's PID (when we started it)
        self.made_run_dir = False
        self.resources_orig = None
        self.data_inode = None
        self.admin_key = None      # the key postinst made
        self.recipe = None         # the README's recipe running (its Popen: sh exec'ed aigw)
        register_cleanup(self)

    # -- prerequisites of the cases ------------------------------------------

    def need_deb(self):
        if self.deb is None:
            raise Skip("no .deb was built")

    def need_installed(self):
        if not self.usable:
            raise Skip("the package is not installed")

    def need_running(self):
        if self.port is None:
            raise Skip("aigw is not running")

    # -- the running aigw ------------------------------------------------------

    def chat(self, model="deb-gpt", **kw):
        return request(self.port, "POST", "/v1/chat/completions", chat_body(model=model, **kw),
                       key=CLIENT_KEY)

    def main_pid(self):
        """The master's PID: systemd's MainPID, or the one we found."""
        if self.systemd:
            p = run_ok(["systemctl", "show", "-p", "MainPID", "--value", "aigw"], "MainPID")
            return int(p.stdout.strip() or 0)
        return self.master

    def ours(self):
        """{pid: argv} of the aigw processes we started ourselves: those
        running our own copy of aigw.yaml (a path no one else uses)."""
        if self.conf == CONF:
            return {}
        return {pid: argv for pid, argv in aigw_processes().items() if self.conf in argv}

    def stop_ours(self):
        """Stop the aigw we started: systemctl stop, or SIGTERM to its master
        and SIGKILL to what is left of it after STOP_TIMEOUT. Returns the
        PIDs that needed the SIGKILL."""
        self.port = None
        if self.systemd:
            if self.installed:
                run(["systemctl", "stop", "aigw"], timeout=STOP_TIMEOUT + 60)
            return []
        if self.master is not None and pid_alive(self.master):
            os.kill(self.master, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self.ours():
                time.sleep(0.05)
        self.master = None
        left = sorted(self.ours())
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left

    def remove_run_dir(self):
        """What systemd does to RuntimeDirectory= when the service stops."""
        if self.made_run_dir:
            shutil.rmtree(RUN_DIR, ignore_errors=True)
            self.made_run_dir = False

    def stop_recipe(self):
        """SIGTERM (then SIGKILL) to the aigw the README's recipe started, if it runs."""
        p, self.recipe = self.recipe, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def kill_now(self):
        """Cleanup, whatever happened: stop aigw, purge the package, stop the mock."""
        try:
            self.stop_recipe()
            self.stop_ours()
        except Exception:  # noqa: BLE001 - best effort, go on
            pass
        self.remove_run_dir()
        if self.installed:
            run(["dpkg", "--purge", PKG], timeout=300, env=dpkg_env())
            self.installed = False
        if self.mock is not None:
            self.mock.stop()
            self.mock = None


D = Deb()


# --------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------

def case_clean_machine():
    """Nothing of aigw is on this machine: the purge at the end would destroy it."""
    check(os.geteuid() == 0, "must run as root (it installs a package)")
    status = pkg_status()
    check(status in ("", "unknown ok not-installed"),
          "the aigw package is on this machine already (%s): this test would purge it", status)
    there = [p for p in LEFTOVERS if os.path.lexists(p)]
    check(not there, "already here: %s; this test would delete them", ", ".join(there))
    check(not user_exists("aigw") and not group_exists("aigw"),
          "an aigw user or group exists already: the purge would delete it")
    check(not aigw_processes(), "%s is running already: %r", SBIN, aigw_processes())


def case_build():
    """make deb (or AIGW_DEB)."""
    given = os.environ.get("AIGW_DEB")
    if given:
        check(os.path.isfile(given), "AIGW_DEB=%s is not a file", given)
        D.deb = os.path.abspath(given)
        return
    log = os.path.join(make_tmpdir("aigw-deb-"), "make-deb.log")
    t0 = time.monotonic()
    with open(log, "w") as f:
        p = subprocess.run(["make", "-C", BUILDDIR, "deb"], stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=make_env(), timeout=600)
    with open(log) as f:
        text = f.read()
    check(p.returncode == 0, "make deb exited %d:\n%s", p.returncode, text[-4000:])
    m = re.search(r"^make deb: (/\S+\.deb)$", text, re.M)
    check(m is not None, "make deb printed no path of a .deb:\n%s", text[-2000:])
    check(os.path.isfile(m.group(1)), "make deb printed %s, which is not there", m.group(1))
    D.deb = m.group(1)
    tap.diag("built %s in %.0f s" % (D.deb, time.monotonic() - t0))


def installed_by_make_install():
    """Paths `make install` installs with Debian's directories, as they are
    in the package (man pages compressed); its resources.yaml excepted (the
    package ships an empty one of its own)."""
    dest = make_tmpdir("aigw-deb-install-")
    run_ok(["make", "-C", BUILDDIR, "install", "DESTDIR=" + dest, "prefix=/usr",
            "sysconfdir=/etc", "localstatedir=/var", "runstatedir=/run"], "make install",
           env=make_env())
    paths = []
    for root, _, files in os.walk(dest):
        for name in files:
            p = "/" + os.path.relpath(os.path.join(root, name), dest)
            if p.startswith("/usr/share/man/"):
                p += ".gz"
            paths.append(p)
    return sorted(paths)


def case_contents():
    """The .deb holds what `make install` installs, the unit, logrotate and conffiles."""
    D.need_deb()
    p = run_ok(["dpkg-deb", "-c", D.deb], "dpkg-deb -c")
    listed = set()
    for line in p.stdout.splitlines():
        path = line.split()[-1]
        listed.add(path[1:] if path.startswith("./") else path)
    want = [f for f in installed_by_make_install() if f != RESOURCES]
    want += [RESOURCES, UNIT, LOGROTATE, "/etc/default/aigw",
             "/usr/share/doc/aigw/examples/resources.yaml"]
    missing = [f for f in want if f not in listed]
    check(not missing, "not in the package: %s", ", ".join(missing))
    p = run_ok(["dpkg-deb", "-I", D.deb, "conffiles"], "dpkg-deb -I conffiles")
    check_eq(sorted(p.stdout.split()), sorted(CONFFILES), "conffiles")
    info = run_ok(["dpkg-deb", "-f", D.deb, "Package", "Version", "Depends"], "dpkg-deb -f").stdout
    version = run_ok([AIGW_BIN, "-v"], "aigw -v").stdout.split()[-1]
    check("Version: %s" % version in info, "package version is not %s: %s", version, info)
    check("libevent" in info and "adduser" in info, "Depends lacks shlibs or adduser: %s", info)


# --------------------------------------------------------------------------
# Install
# --------------------------------------------------------------------------

def case_install():
    """dpkg -i installs it: the aigw system user, its folders, YAML files for it alone."""
    D.need_deb()
    D.installed = True  # from here on, the cleanup purges
    p = run(["dpkg", "-i", D.deb], timeout=300, env=dpkg_env())
    if p.returncode != 0 and "dependency problems" in p.stderr:
        tap.diag("dpkg -i: dependency problems: apt-get install -f")
        run_ok(["apt-get", "install", "-f", "-y", "-q", "--no-install-recommends"],
               "apt-get install -f", timeout=600, env=dpkg_env())
    else:
        check(p.returncode == 0, "dpkg -i exited %d:\n%s%s", p.returncode, p.stdout, p.stderr)
    check_eq(pkg_status(), "install ok installed", "dpkg status of aigw")
    D.usable = True
    D.files = run_ok(["dpkg", "-L", PKG], "dpkg -L").stdout.split()
    u = pwd.getpwnam("aigw")
    check(u.pw_uid < 1000, "aigw is not a system user (uid %d)", u.pw_uid)
    check_eq(grp.getgrgid(u.pw_gid).gr_name, "aigw", "aigw's primary group")
    check_eq(u.pw_shell, "/usr/sbin/nologin", "aigw's shell")
    check_owner_mode(STATE_DIR, "aigw", "aigw", 0o750)
    check_owner_mode(LOG_DIR, "aigw", "aigw", 0o750)
    check_owner_mode(CONF, "root", "aigw", 0o640)
    check_owner_mode(RESOURCES, "root", "aigw", 0o640)
    check_owner_mode("/etc/default/aigw", "root", "root", 0o600)
    check(os.access(SBIN, os.X_OK), "%s is not executable", SBIN)
    check_owner_mode(ADMIN_KEY_FILE, "root", "aigw", 0o640)
    with open(ADMIN_KEY_FILE) as f:
        D.admin_key = f.read()
    check(re.match(r"^[0-9a-f]{64}\n$", D.admin_key), "%s is not 64 hex digits and a newline",
          ADMIN_KEY_FILE)
    with open(CONF) as f:
        check(re.search(r"^  keys:\n    - name: root\n      key_file: %s\n      role: admin$"
                        % ADMIN_KEY_FILE, f.read(), re.M), "%s does not name %s in admin.keys",
              CONF, ADMIN_KEY_FILE)


def case_unit_verify():
    """The installed unit passes systemd-analyze verify."""
    D.need_installed()
    if shutil.which("systemd-analyze") is None:
        raise Skip("no systemd-analyze here")
    p = run(["systemd-analyze", "verify", UNIT], timeout=60)
    # Without systemd as PID 1, verify still parses the unit and checks its
    # commands; what it says about this unit is what matters.
    bad = [line for line in (p.stdout + p.stderr).splitlines() if "aigw.service" in line]
    check(p.returncode == 0 and not bad, "systemd-analyze verify exited %d:\n%s%s",
          p.returncode, p.stdout, p.stderr)


def dpkg_excludes_man():
    """True when dpkg is told not to install man pages (slim images)."""
    d = "/etc/dpkg/dpkg.cfg.d"
    for name in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), errors="replace") as f:
            if re.search(r"^path-exclude[= ]/usr/share/man", f.read(), re.M):
                return True
    return False


def case_man():
    """Every man page of the package is installed, and man -w finds it."""
    D.need_installed()
    if dpkg_excludes_man():
        raise Skip("dpkg excludes /usr/share/man on this machine (path-exclude)")
    pages = [f for f in D.files if re.match(r"^/usr/share/man/man\d/[^/]+\.gz$", f)]
    for section, name in MAN_PAGES:
        path = "/usr/share/man/man%s/%s.%s.gz" % (section, name, section)
        check(path in pages, "%s is not in the package", path)
    for path in pages:
        check(os.path.isfile(path), "%s is not installed", path)
        m = re.match(r"^/usr/share/man/man(\d)/(.+)\.\d\.gz$", path)
        if shutil.which("man") and m:
            p = run(["man", "-w", m.group(1), m.group(2)])
            check_eq(p.stdout.strip(), path, "man -w %s %s" % (m.group(1), m.group(2)))


def case_config_check():
    """aigw -t accepts the installed configuration as it is."""
    D.need_installed()
    p = run([SBIN, "-t", "-c", CONF], env=SERVICE_ENV)
    check(p.returncode == 0 and p.stdout.strip() == "configuration OK" and p.stderr == "",
          "aigw -t -c %s exited %d: %s%s", CONF, p.returncode, p.stdout, p.stderr)
    p = run([SBIN, "-t"], env=SERVICE_ENV)
    check(p.returncode == 0, "aigw -t (built-in default %s) exited %d: %s%s", CONF,
          p.returncode, p.stdout, p.stderr)


# --------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------

def test_config(dirpath):
    """The installed aigw.yaml with free ports instead of the packaged ones
    (another aigw on this machine may have them); all else as installed."""
    with open(CONF) as f:
        text = f.read()
    for addr in PACKAGED_PORTS:
        check(text.count(addr) == 1, "%s: expected %s once", CONF, addr)
        port = free_port()
        text = text.replace(addr, "%s:%d" % (HOST, port))
        if addr == PACKAGED_PORTS[0]:
            client_port = port
    os.chmod(dirpath, 0o750)
    os.chown(dirpath, 0, grp.getgrnam("aigw").gr_gid)
    path = os.path.join(dirpath, "aigw.yaml")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o640)
    os.chown(path, 0, grp.getgrnam("aigw").gr_gid)
    return path, client_port


def start_without_systemd():
    """Start aigw as ExecStart= does, as User=aigw, in the folders systemd
    makes (RuntimeDirectory=; postinst made the others); find its master.
    Returns its client port."""
    u = pwd.getpwnam("aigw")
    if not os.path.isdir(RUN_DIR):  # else left by the README's recipe, as it would be
        os.mkdir(RUN_DIR, 0o755)
        D.made_run_dir = True
        os.chown(RUN_DIR, u.pw_uid, u.pw_gid)
    D.conf, port = test_config(make_tmpdir("aigw-deb-conf-"))
    argv = unit_command("ExecStart")
    check_eq(argv, [SBIN, "-c", CONF], "ExecStart of the unit")
    argv[-1] = D.conf
    t0 = time.monotonic()
    p = subprocess.run(AS_AIGW + argv, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=SERVICE_ENV, cwd="/", umask=0o027,
                       timeout=START_TIMEOUT)
    # The master is the process of the daemon that leads its own session.
    masters = [pid for pid, args in D.ours().items() if args == argv and leads_session(pid)]
    D.master = masters[0] if len(masters) == 1 else None
    check(p.returncode == 0, "`%s` exited %d (Type=forking needs 0 once serving): %s%s\n%s",
          " ".join(argv), p.returncode, p.stdout, p.stderr, "" if D.ours() else
          foreground_log(argv))
    check_eq(len(masters), 1, "masters running %s" % " ".join(argv))
    tap.diag("aigw daemonized and exited 0 in %.2f s" % (time.monotonic() - t0))
    # PIDFile= of the unit: systemd takes the master's PID from it.
    pid_file = os.path.join(RUN_DIR, "aigw.pid")
    check(os.path.exists(pid_file), "no %s once aigw has started", pid_file)
    with open(pid_file) as f:
        check_eq(f.read().strip(), str(D.master), "PID in %s" % pid_file)
    return port


def check_control_socket():
    """The control socket is in /run/aigw, for the aigw user and group
    (aigwctl, for operators in the aigw group)."""
    sock = os.path.join(RUN_DIR, "aigw.sock")
    check(os.path.exists(sock) and stat.S_ISSOCK(os.stat(sock).st_mode),
          "no control socket %s", sock)
    check_owner_mode(sock, "aigw", "aigw", 0o660)


def leads_session(pid):
    """True when pid is the leader of its session (a daemon after setsid)."""
    try:
        return os.getsid(pid) == pid
    except OSError:
        return False


def foreground_log(argv):
    """What aigw -d says in 3 s, as the aigw user (when the daemon would not
    start: its own log went to syslog)."""
    with open(os.devnull) as null:
        p = subprocess.Popen(AS_AIGW + argv[:1] + ["-d"] + argv[1:], stdin=null,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=SERVICE_ENV, cwd="/", text=True)
    try:
        out, _ = p.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=STOP_TIMEOUT)
    return "-- aigw -d --\n" + out[-3000:]


def start_with_systemd():
    """systemctl (re)start aigw with the packaged configuration; its client port."""
    with open(CONF) as f:
        m = re.search(r"^listen:\s*\n\s*-\s*\S+:(\d+)", f.read(), re.M)
    check(m is not None, "no listen address in %s", CONF)
    p = run(["systemctl", "restart", "aigw"], timeout=START_TIMEOUT + 90)
    if p.returncode != 0:
        j = run(["journalctl", "-u", "aigw", "-n", "40", "--no-pager"])
        check(False, "systemctl restart aigw exited %d: %s\n%s", p.returncode, p.stderr,
              j.stdout)
    check_eq(run(["systemctl", "is-active", "aigw"]).stdout.strip(), "active", "is-active")
    return int(m.group(1))


def case_start():
    """The installed aigw starts as the unit starts it, as the aigw user."""
    D.need_installed()
    D.mock = Mock(key=MOCK_KEY)
    with open(RESOURCES) as f:
        D.resources_orig = f.read()
    write_in_place(RESOURCES, to_yaml(resources(D.mock.port)))
    port = start_with_systemd() if D.systemd else start_without_systemd()
    pid = D.main_pid()
    check(pid > 0 and pid_alive(pid), "no master running (pid %r)", pid)
    uid = pwd.getpwnam("aigw").pw_uid
    for p in [pid] + children_of(pid):
        check_eq(proc_uid(p), uid, "UID of aigw process %d" % p)
    check(children_of(pid), "the master %d has no workers", pid)
    check_control_socket()
    # Type=forking: serving once the command exited, without a wait.
    resp = request(port, "GET", "/healthz")
    check_eq(resp.status, 200, "GET /healthz right after the start")
    D.port = port


def case_chat():
    """A chat completion goes through the installed aigw to the mock."""
    D.need_running()
    resp = D.chat(content="hello from the package", mock={"chunks": 3})
    check(resp.status == 200, "status %d: %r", resp.status, resp.body[:500])
    obj = resp.json()
    check_eq(obj["choices"][0]["message"]["content"], "tok0 tok1 tok2", "content")
    check_eq(last_header(D.mock.last(), "authorization"), "Bearer " + MOCK_KEY,
             "provider key the mock got")
    data = os.path.join(STATE_DIR, "data.mdb")
    check(os.path.isfile(data), "no LMDB file %s", data)
    check_eq(owner_mode(data)[0], "aigw", "owner of %s" % data)
    D.data_inode = os.stat(data).st_ino


def case_reload():
    """The unit's ExecReload makes aigw read the resources file again."""
    D.need_running()
    check_eq(D.chat(model="deb-gpt-2").status, 404, "status of a model not there yet")
    write_in_place(RESOURCES, to_yaml(resources(D.mock.port, ("deb-gpt", "deb-gpt-2"))))
    if D.systemd:
        run_ok(["systemctl", "reload", "aigw"], "systemctl reload aigw")
    else:
        # As systemd runs it: as the unit's user, $MAINPID from the PID file.
        argv = [a.replace("${MAINPID}", str(D.master)).replace("$MAINPID", str(D.master))
                for a in unit_command("ExecReload")]
        run_ok(AS_AIGW + argv, "ExecReload", env=SERVICE_ENV)
    wait_for(lambda: D.chat(model="deb-gpt-2").status == 200, HTTP_TIMEOUT,
             what="the new model to answer after the reload")


def case_aigwctl():
    """aigwctl status talks to the installed aigw."""
    D.need_running()
    p = run_ok([CTL, "-c", D.conf, "status"], "aigwctl status", env=SERVICE_ENV)
    check(str(D.main_pid()) in p.stdout, "aigwctl status does not show the master's PID %d:"
          "\n%s", D.main_pid(), p.stdout)


def admin_port():
    """The Admin API port of the aigw.yaml it runs with."""
    with open(D.conf) as f:
        m = re.search(r"^admin:\s*\n\s*listen:\s*\n\s*-\s*\S+:(\d+)", f.read(), re.M)
    check(m is not None, "no admin.listen address in %s", D.conf)
    return int(m.group(1))


def case_admin_key():
    """The Admin API asks for the key made at install; nobody neither reads
    it nor creates an API key; root's aigwctl, and group aigw's, need no flag."""
    D.need_running()
    port = admin_port()
    key = D.admin_key.strip()
    new_key = {"name": "by-nobody", "allowed_models": ["*"]}
    resp = request(port, "POST", "/admin/v1/api_keys", body=new_key)
    check_eq(resp.status, 401, "POST an API key without the admin key")
    check_eq(request(port, "GET", "/admin/v1/status").status, 401, "GET status without a key")
    check_eq(request(port, "GET", "/admin/v1/status", key=key).status, 200,
             "GET status with the key of %s" % ADMIN_KEY_FILE)
    # nobody: cannot read the key; its aigwctl says why, before any request
    p = run(AS_NOBODY + ["cat", ADMIN_KEY_FILE], env=SERVICE_ENV)
    check(p.returncode != 0 and "Permission denied" in p.stderr and key not in p.stdout,
          "nobody reads %s: exit %d %r", ADMIN_KEY_FILE, p.returncode, p.stderr)
    p = subprocess.run(AS_NOBODY + [CTL, "key", "create"], capture_output=True, text=True,
                       input='{"name":"by-nobody","allowed_models":["*"]}', env=SERVICE_ENV,
                       timeout=60, cwd="/")
    check(p.returncode == 2 and "aigwctl: permission denied: %s (the admin key; add yourself to "
          "group aigw" % ADMIN_KEY_FILE in p.stderr, "aigwctl key create as nobody: exit %d %r",
          p.returncode, p.stderr)
    # even pointed at the Admin API, without the key it gets 401
    p = subprocess.run(AS_NOBODY + [CTL, "--admin-url", "http://%s:%d" % (HOST, port), "key",
                                    "create"], capture_output=True, text=True,
                       input='{"name":"by-nobody","allowed_models":["*"]}', env=SERVICE_ENV,
                       timeout=60, cwd="/")
    check(p.returncode == 1 and "asks for an admin key" in p.stderr,
          "aigwctl --admin-url key create as nobody: exit %d %r", p.returncode, p.stderr)
    # root: aigwctl without a key option (-c only when the test runs its own copy)
    conf = [] if D.conf == CONF else ["-c", D.conf]
    p = subprocess.run([CTL] + conf + ["key", "create"], capture_output=True, text=True,
                       input='{"name":"by-root","allowed_models":["deb-*"]}', env=SERVICE_ENV,
                       timeout=60, cwd="/")
    check(p.returncode == 0 and key not in p.stdout + p.stderr,
          "aigwctl key create as root: exit %d %r %r", p.returncode, p.stdout, p.stderr)
    # a member of group aigw (nobody let in): the same
    gid = grp.getgrnam("aigw").gr_gid
    p = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--groups=%d" % gid,
             "--no-new-privs", CTL] + conf + ["key", "list"], env=SERVICE_ENV, cwd="/")
    check(p.returncode == 0 and "by-root" in p.stdout and "by-nobody" not in p.stdout,
          "aigwctl key list as a member of group aigw: exit %d %r %r", p.returncode, p.stdout,
          p.stderr)


def case_logrotate():
    """logrotate rotates the access log with the package's file; aigw reopens it."""
    D.need_running()
    if shutil.which("logrotate") is None:
        raise Skip("logrotate is not installed")
    rid = D.chat().headers.get("x-request-id")
    try:
        wait_for(lambda: os.path.getsize(ACCESS_LOG) > 0, 5, what=ACCESS_LOG)
    except TestFailure:
        raise Skip("aigw wrote no %s (access_log to a file not there yet)" % ACCESS_LOG)
    pid = D.main_pid()
    state = os.path.join(make_tmpdir("aigw-deb-logrotate-"), "status")
    run_ok(["logrotate", "-f", "-s", state, LOGROTATE], "logrotate -f")
    check(os.path.isfile(ACCESS_LOG + ".1"), "no %s.1 after logrotate -f", ACCESS_LOG)
    with open(ACCESS_LOG + ".1") as f:
        check(rid in f.read(), "%s.1 lacks request %s", ACCESS_LOG, rid)
    check(pid_alive(pid), "the master %d died of the postrotate signal", pid)
    rid2 = D.chat().headers.get("x-request-id")

    def reopened():
        with open(ACCESS_LOG) as f:
            return rid2 in f.read()
    wait_for(reopened, 5, what="request %s in a new %s (reopened)" % (rid2, ACCESS_LOG))


def case_stop():
    """It stops on SIGTERM (as systemctl stop does), workers and all."""
    D.need_running()
    pid = D.main_pid()
    pids = [pid] + children_of(pid)
    alive = D.stop_ours()
    check(not alive, "still running %.0f s after SIGTERM: %r", STOP_TIMEOUT, alive)
    # a process past exit_mm has no exe link (ours() no longer sees it) but is not
    # a zombie yet: it has a moment to finish exiting
    wait_for(lambda: not [p for p in pids if pid_alive(p)], STOP_TIMEOUT,
             what="the processes %r to be gone" % pids)
    check(not aigw_processes(), "%s still running: %r", SBIN, aigw_processes())
    D.remove_run_dir()


# --------------------------------------------------------------------------
# The README's recipe without systemd
# --------------------------------------------------------------------------

def readme_recipe(which):
    """The commands of README.md between <!-- recipe: no-systemd WHICH --> and
    <!-- /recipe -->: what a reader copies, so the README cannot drift."""
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- recipe: no-systemd %s -->\n```sh\n(.*?)```\n<!-- /recipe -->" % which,
                  text, re.S)
    check(m is not None, "README.md has no recipe 'no-systemd %s' between markers", which)
    return m.group(1)


def case_recipe():
    """The README's commands without systemd, as written: aigw in the foreground as the
    aigw user, a secret from /etc/default/aigw, a chat completion, aigwctl stop."""
    D.need_installed()
    check(not aigw_processes(), "%s runs already: %r", SBIN, aigw_processes())
    start, stop = readme_recipe("start"), readme_recipe("stop")
    # The one change: our copy of aigw.yaml, on free ports (the packaged ones may be taken).
    check_eq(start.count(CONF), 1, "%s in the start recipe" % CONF)
    D.conf, port = test_config(make_tmpdir("aigw-deb-recipe-"))
    script = start.replace(CONF, D.conf)
    # The provider key only in /etc/default/aigw: the recipe must put it in the environment.
    with open("/etc/default/aigw") as f:
        default_orig = f.read()
    write_in_place("/etc/default/aigw", default_orig + "AIGW_DEB_MOCK_KEY=%s\n" % MOCK_KEY)
    res = resources(D.mock.port)
    for m in res["models"]:
        m["api_key"] = "${AIGW_DEB_MOCK_KEY}"
    write_in_place(RESOURCES, to_yaml(res))
    logpath = os.path.join(make_tmpdir("aigw-deb-recipe-log-"), "stderr")
    with open(logpath, "w") as log:
        # as an entry point runs: root, a service's environment (no secrets), no terminal,
        # the soft descriptor limit most containers start with
        D.recipe = subprocess.Popen(["sh", "-e", "-c", script], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, env=SERVICE_ENV,
                                    cwd="/", start_new_session=True,
                                    preexec_fn=lambda: resource.setrlimit(
                                        resource.RLIMIT_NOFILE,
                                        (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    pid = D.recipe.pid  # sh and setpriv exec: the same process becomes the master

    def log_text():
        with open(logpath, errors="replace") as f:
            return f.read()

    def serving():
        if D.recipe.poll() is not None:
            raise TestFailure("the recipe exited %d:\n%s" % (D.recipe.returncode,
                                                             log_text()[-3000:]))
        try:
            return request(port, "GET", "/healthz").status == 200
        except OSError:
            return False
    wait_for(serving, START_TIMEOUT, what="the recipe's aigw to serve")
    try:
        check_eq(proc_exe(pid), SBIN, "the program the recipe's process runs")
        check_eq(proc_uid(pid), pwd.getpwnam("aigw").pw_uid, "UID of the master")
        check(children_of(pid), "the master %d has no workers", pid)
        # aigw raises its soft descriptor limit to what limits.max_connections needs
        # (the packaged default, 4096: 2 * 4096 + 256), up to the hard limit
        with open("/proc/%d/limits" % pid) as f:
            lim = [l.split()[3:5] for l in f if l.startswith("Max open files")][0]
        need = 2 * 4096 + 256
        check(int(lim[0]) >= min(need, int(lim[1])), "the master's descriptor limits %r: "
              "the soft one not raised to %d", lim, need)
        resp = request(port, "POST", "/v1/chat/completions", chat_body(model="deb-gpt"),
                       key=CLIENT_KEY)
        check_eq(resp.status, 200, "a chat completion (body %r)" % resp.body[:300])
        check_eq(last_header(D.mock.last(), "authorization"), "Bearer " + MOCK_KEY,
                 "the provider key (from /etc/default/aigw) the mock got")
        p = run(["sh", "-e", "-c", stop], env=SERVICE_ENV, cwd="/", timeout=STOP_TIMEOUT + 60)
        check(p.returncode == 0, "the stop recipe exited %d: %s%s", p.returncode, p.stdout,
              p.stderr)
        # aigwctl stop returns once the master has exited: it is only to be reaped
        rc = D.recipe.wait(timeout=STOP_TIMEOUT)
        check_eq(rc, 0, "exit status of the recipe's aigw")
        D.recipe = None
        check(not aigw_processes(), "%s still running: %r", SBIN, aigw_processes())
        text = log_text()
        # (not "aigw ... started": the master logs it on a timer after the workers run,
        # which a quick stop can beat)
        for what in ("proxy listening on ", "worker 0 started, pid ", "stopping", "stopped"):
            check(re.search(r"\[info\] master\[%d\]: %s" % (pid, what), text),
                  "the master's log on stderr lacks %r:\n%s", what, text[-3000:])
    finally:
        D.stop_recipe()
        write_in_place("/etc/default/aigw", default_orig)
        D.conf = CONF
    # /run/aigw stays, as the recipe made it: the purge must remove it


# --------------------------------------------------------------------------
# Upgrade, remove, purge
# --------------------------------------------------------------------------

def pid_file_pid():
    try:
        with open(os.path.join(RUN_DIR, "aigw.pid")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def case_reinstall():
    """dpkg -i again (an upgrade) keeps the LMDB file, the edited conffile and
    the user; without systemd, an aigw running the replaced binary is handed
    over to the new one (postinst: SIGUSR2) and serves on."""
    D.need_installed()
    uid = pwd.getpwnam("aigw").pw_uid
    if not D.systemd:  # an edit that runs without the recipe's environment
        write_in_place(RESOURCES, to_yaml(resources(D.mock.port)))
    with open(RESOURCES) as f:
        edited = f.read()
    old = None
    if not D.systemd:
        D.port = start_without_systemd()
        old = D.master
        resp = D.chat()
        check(resp.status == 200, "chat before the upgrade: %d %r", resp.status, resp.body[:300])
    run_ok(["dpkg", "-i", D.deb], "dpkg -i again", timeout=300, env=dpkg_env())
    if old is not None:
        def handed_over():
            new = pid_file_pid()
            return (new != old and new > 0 and proc_exe(new) == SBIN and not pid_alive(old)
                    and SBIN + " (deleted)" not in [proc_exe(p) for p in aigw_processes()])
        try:
            wait_for(handed_over, STOP_TIMEOUT + START_TIMEOUT,
                     what="the master on the replaced binary (pid %d) handing over to a new "
                     "master on the new one, and no process left on the replaced file" % old)
        except TestFailure:
            tap.diag("running: %r" % {p: proc_exe(p) for p in aigw_processes()})
            D.stop_ours()
            raise
        D.master = pid_file_pid()
        resp = D.chat()
        check(resp.status == 200, "chat after the upgrade: %d %r", resp.status, resp.body[:300])
        left = D.stop_ours()
        check(not left, "still running after SIGTERM: %r", left)
        D.remove_run_dir()
    check_eq(pkg_status(), "install ok installed", "dpkg status of aigw")
    check_eq(pwd.getpwnam("aigw").pw_uid, uid, "aigw's UID after the upgrade")
    with open(RESOURCES) as f:
        check(f.read() == edited, "%s lost its local edit", RESOURCES)
    check_owner_mode(RESOURCES, "root", "aigw", 0o640)
    if D.admin_key is not None:
        with open(ADMIN_KEY_FILE) as f:
            check(f.read() == D.admin_key, "the upgrade changed %s", ADMIN_KEY_FILE)
        check_owner_mode(ADMIN_KEY_FILE, "root", "aigw", 0o640)
    if D.data_inode is not None:
        check_eq(os.stat(os.path.join(STATE_DIR, "data.mdb")).st_ino, D.data_inode,
                 "inode of the LMDB file")
    if D.systemd:  # the upgrade restarted it: stop it for the remove
        run(["systemctl", "stop", "aigw"], timeout=STOP_TIMEOUT + 60)


def case_remove():
    """dpkg -r removes the binaries and keeps the conffiles and the LMDB file."""
    D.need_installed()
    if D.resources_orig is not None:
        write_in_place(RESOURCES, D.resources_orig)
    # running when removed: prerm must stop it, with systemd or without (then by its
    # PID file), or it serves on from a deleted binary
    if D.systemd:
        start_with_systemd()
    else:
        start_without_systemd()
    running = aigw_processes()
    check(running, "aigw did not start for the remove")
    D.usable = False
    p = run_ok(["dpkg", "-r", PKG], "dpkg -r", timeout=300, env=dpkg_env())
    D.master = None
    check_eq(pkg_status(), "deinstall ok config-files", "dpkg status after remove")
    check(not os.path.exists(SBIN), "%s is still there", SBIN)
    left = aigw_processes()  # /usr/sbin/aigw or "/usr/sbin/aigw (deleted)"
    check(not left, "aigw runs on after dpkg -r (it was %r): %r\n%s", sorted(running), left,
          p.stderr[-2000:])
    check(not [q for q in running if pid_alive(q)], "processes of aigw left: %r",
          [q for q in running if pid_alive(q)])
    check(not os.path.lexists(RUN_DIR), "%s is left after dpkg -r", RUN_DIR)
    D.made_run_dir = False
    for f in CONFFILES:
        check(os.path.exists(f), "conffile %s is gone after remove", f)
    if D.data_inode is not None:
        check(os.path.exists(os.path.join(STATE_DIR, "data.mdb")),
              "the LMDB file is gone after remove")
    check(user_exists("aigw"), "the aigw user is gone after remove")


def case_purge():
    """dpkg --purge leaves nothing: files, folders, user, overrides, processes."""
    D.need_deb()
    if not D.installed:
        raise Skip("the package was not installed")
    run_ok(["dpkg", "--purge", PKG], "dpkg --purge", timeout=300, env=dpkg_env())
    D.installed = False
    check(pkg_status() in ("", "unknown ok not-installed"), "dpkg status after purge: %r",
          pkg_status())
    there = [p for p in LEFTOVERS if os.path.lexists(p)]
    check(not there, "left after purge: %s", ", ".join(there))
    left = [f for f in D.files if os.path.isfile(f) and not os.path.isdir(f)]
    check(not left, "files of the package left after purge: %s", ", ".join(left))
    check(not user_exists("aigw") and not group_exists("aigw"),
          "the aigw user or group is left after purge")
    p = run(["dpkg-statoverride", "--list", "/etc/aigw/*"])
    check(p.stdout.strip() == "", "stat overrides left: %s", p.stdout)
    check(not aigw_processes(), "%s still running: %r", SBIN, aigw_processes())


CASES = [
    ("nothing of aigw is on this machine before", case_clean_machine),
    ("make deb builds the package", case_build),
    ("the .deb holds what make install installs, the unit, logrotate, conffiles",
     case_contents),
    ("dpkg -i installs it: aigw system user, its folders, YAML files root:aigw 0640",
     case_install),
    ("the installed unit passes systemd-analyze verify", case_unit_verify),
    ("the man pages are installed", case_man),
    ("aigw -t accepts the installed configuration", case_config_check),
    ("the installed aigw starts as its unit starts it, as the aigw user; PID file, "
     "control socket", case_start),
    ("a chat completion goes through it to the mock; the LMDB file is in /var/lib/aigw",
     case_chat),
    ("the unit's ExecReload reads the resources file again", case_reload),
    ("aigwctl status talks to it", case_aigwctl),
    ("the Admin API asks for the admin key made at install (0640 root:aigw); nobody neither "
     "reads it nor creates an API key; root's aigwctl needs no flag", case_admin_key),
    ("logrotate rotates the access log; aigw reopens it", case_logrotate),
    ("it stops on SIGTERM, workers and all", case_stop),
    ("the README's recipe without systemd, as written: aigw -d as the aigw user, a secret "
     "from /etc/default/aigw, a chat completion, aigwctl stop; it exits 0 and logged to "
     "stderr", case_recipe),
    ("dpkg -i again keeps the LMDB file, an edited conffile, the admin key and the user",
     case_reinstall),
    ("dpkg -r stops the running aigw (systemd or not: no process on a deleted binary), "
     "removes /run/aigw, keeps the conffiles and the LMDB file", case_remove),
    ("dpkg --purge leaves nothing: files, /etc/aigw, /var/lib/aigw, /var/log/aigw, /run/aigw, "
     "user, overrides, processes", case_purge),
]


def main():
    tap.plan(len(CASES))
    if not ENABLED:
        for name, _ in CASES:
            tap.report(name, skip="it installs a package: AIGW_TEST_DEB=1 runs it")
        return tap.done()
    tap.diag("systemd %s" % ("runs: systemctl" if D.systemd else
                             "is not PID 1: aigw started as the aigw user"))
    try:
        for i, (name, fn) in enumerate(CASES):
            try:
                fn()
                tap.report(name)
            except Skip as why:
                tap.report(name, skip=str(why))
            except Exception as exc:  # noqa: BLE001 - reported as not ok
                tap.report(name, exc)
                if i == 0:  # not a clean machine: touch nothing
                    for rest, _ in CASES[1:]:
                        tap.report(rest, skip="not a clean machine (case 1)")
                    break
    finally:
        D.kill_now()
    return tap.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001
        tap.bail("harness crashed: %r" % (exc,))
        D.kill_now()
        sys.exit(1)
