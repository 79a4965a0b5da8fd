"""The warm kernel template: runs in the students' Python, started by grader/kernel/template.py.

Its source is sent as `python -c` (`grader` is not importable in the students' environment).
It imports what every kernel needs (ipykernel, IPython, zmq, numpy, torch, matplotlib's inline
backend's drawing) once, then only waits on a socket for fork requests. It never runs student code and
never calls into torch (no thread pools: a fork copies only the calling thread).

Per request (one JSON message + three fds: the kernel log, a status pipe, a lifeline pipe):
- first child: joins the submission's cgroups, sets the rlimits, points stdio at the log,
  unshares the mount/pid/net/ipc/uts/cgroup namespaces, forks pid 1 of the new pid namespace,
  writes "pid N" and exits (pid 1 is re-parented to the worker, a child subreaper);
- pid 1: builds a new root on a tmpfs (what bwrap builds), pivots into it, drops every
  privilege to the slot's uid, forks the kernel, then reaps and exits with the kernel's status,
  or at once when the worker's lifeline hangs up (its death takes the namespace down);
- the kernel: new session, the sandbox's environment only, no inherited fd but 0/1/2, fresh
  RNG seeds, writes "ready", then runs ipykernel in-process as `python -m ipykernel_launcher`.
Anything failing before "ready" is written to the status pipe as "error <step>: <reason>".
"""

import ctypes
import gc
import json
import os
import platform
import resource
import select
import signal
import socket
import struct
import sys
import threading

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
_KEPT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048 | 4096  # + noatime, nodiratime, relatime
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine(), 155)
RLIMITS = {"as": resource.RLIMIT_AS, "nproc": resource.RLIMIT_NPROC, "fsize": resource.RLIMIT_FSIZE,
           "cpu": resource.RLIMIT_CPU, "core": resource.RLIMIT_CORE}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "core": "/proc/kcore", "ptmx": "pts/ptmx"}

_sock = None  # the socket to the worker (the template's only channel)
_step = "starting"


class StepFailed(Exception):
    pass


def _enc(value):
    return None if value is None else os.fsencode(value)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)), f"mount {target}")


def prctl(option, arg2=0, arg3=0):
    _check(_libc.prctl(option, arg2, arg3, 0, 0), f"prctl {option}")


def report(fd, line):
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass


# -- the template -----------------------------------------------------------------------------


def warm_up():
    """What every kernel imports first; nothing here starts a thread or runs a torch op.

    Not matplotlib_inline (its package imports .backend_inline, whose import hooks into the running
    IPython shell: that exists only in the kernel, so the kernel imports it, cheaply, after this)."""
    import IPython  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401 - what the inline backend draws with (fonts loaded)
    import matplotlib.figure  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    # torch._dynamo (with sympy): a torch.optim step, torch.func and autograd.grad with a cotangent import
    # it on first use, 1.7 s of every kernel that trains or checks gradients; it starts no thread.
    import torch._dynamo  # noqa: F401
    import zmq  # noqa: F401
    from ipykernel import ipkernel, kernelapp  # noqa: F401


def serve(fd):
    """Answer fork requests until the worker goes (its end of the socket closes)."""
    global _sock
    _sock = socket.socket(fileno=fd)
    try:
        warm_up()
    except BaseException as error:  # noqa: BLE001 - the worker falls back to cold starts
        _sock.send(f"error importing: {type(error).__name__}: {error}".encode()[:4000])
        return
    # Every object the imports made moves to the permanent generation: the kernels' garbage
    # collections never walk (so never write, so never copy) the pages they share with the template.
    gc.collect()
    gc.freeze()
    _sock.send(f"ready {os.getpid()}".encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(_sock, 1 << 20, 3)
        except OSError:
            return
        if not message:
            return
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue
        threads = threading.active_count(), len(os.listdir("/proc/self/task"))
        if threads != (1, 1):
            report(fds[1], f"error forking: the template runs {threads[1]} threads; a fork would copy one")
        else:
            child = os.fork()
            if child == 0:
                try:
                    first_child(json.loads(message), *fds)
                finally:
                    os._exit(1)
            os.waitpid(child, 0)  # it exits as soon as pid 1 exists
        for fd in fds:
            os.close(fd)


# -- the first child: cgroups, limits, namespaces -------------------------------------------


def first_child(request, log_fd, status_fd, lifeline_fd):
    global _step
    try:
        os.close(_sock.detach())
        _step = "joining the cgroups"
        for group in request["cgroups"]:
            with open(os.path.join(group, "cgroup.procs"), "w") as procs:
                procs.write(str(os.getpid()))
        _step = "setting the limits"
        for name, value in request["rlimits"].items():
            resource.setrlimit(RLIMITS[name], (value, value))
        _step = "redirecting output"
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(null)
        os.close(log_fd)
        _step = "unsharing the namespaces"
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
                             | CLONE_NEWCGROUP), "unshare")
        pid = os.fork()
        if pid == 0:
            init(request, status_fd, lifeline_fd)
        report(status_fd, f"pid {pid}")
        os._exit(0)
    except BaseException as error:  # noqa: BLE001
        report(status_fd, f"error {_step}: {type(error).__name__}: {error}")
        os._exit(1)


# -- pid 1: the new root, the dropped privileges, the kernel, reaping -------------------------


def init(request, status_fd, lifeline_fd):
    global _step
    try:
        build_root(request)
        _step = "closing inherited files"
        close_fds(keep={0, 1, 2, status_fd, lifeline_fd})
        _step = "entering the work folder"
        os.chdir(request["workdir"])
        drop_privileges(request["uid"])
        _step = "starting the kernel"
        kernel = os.fork()
        if kernel == 0:
            os.close(lifeline_fd)
            start_kernel(request, status_fd)
        os.close(status_fd)
    except BaseException as error:  # noqa: BLE001
        report(status_fd, f"error {_step}: {type(error).__name__}: {error}")
        os._exit(1)
    reap(kernel, lifeline_fd)


def reap(kernel, lifeline_fd):
    """Reap every process of the namespace; leave with the kernel's status, or when the worker dies."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, frame: os._exit(128 + number))
    poller = select.poll()
    poller.register(lifeline_fd, select.POLLIN | select.POLLHUP)
    poller.register(os.pidfd_open(kernel), select.POLLIN)
    while True:
        events = poller.poll(1000)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(0)
            if pid == 0:
                break
            if pid == kernel:
                code = os.waitstatus_to_exitcode(status)
                os._exit(128 - code if code < 0 else code)
        if any(fd == lifeline_fd for fd, _ in events):
            os._exit(137)  # the worker is gone: pid 1's exit kills every process of the namespace


def build_root(request):
    """The file system bwrap builds (grader/sandbox/bwrap.py), on a tmpfs at request["root"]."""
    global _step
    root = request["root"]
    _step = "making the mounts private"
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    _step = "mounting the new root"
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _step = "binding /usr"
    bind("/usr", root, read_only=True)
    for name in ("bin", "sbin", "lib", "lib64"):
        os.symlink(f"usr/{name}", os.path.join(root, name))
    _step = "mounting /proc"
    os.mkdir(os.path.join(root, "proc"), 0o755)
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _step = "making /dev"
    make_dev(os.path.join(root, "dev"))
    _step = "mounting /tmp"
    os.mkdir(os.path.join(root, "tmp"))
    mount("tmpfs", os.path.join(root, "tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _step = "making /etc"
    os.mkdir(os.path.join(root, "etc"), 0o755)
    for source, target in request["etc"]:
        bind(source, root, read_only=True, target=target)
    _step = "binding the Python installation"
    for prefix in request["prefixes"]:
        bind(prefix, root, read_only=True)
    _step = "binding the work folders"
    for folder in (request["workdir"], request["runtime"]):
        bind(folder, root, read_only=False)
    for folder in request["private_dirs"]:  # paths the template's imports cached (matplotlib's)
        os.makedirs(root + folder, 0o755, exist_ok=True)
        os.chown(root + folder, request["uid"], request["uid"])
    _step = "pivoting into the new root"
    os.chdir(root)
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount2 the old root")
    os.chdir("/")
    remount_read_only("/")
    _step = "bringing up the loopback interface"
    loopback_up()


def bind(source, root, *, read_only, target=None):
    """Bind `source` at the same path (or `target`) under root, making missing parents 0755."""
    destination = root + (target or source)
    os.makedirs(os.path.dirname(destination), 0o755, exist_ok=True)
    if os.path.isdir(source):
        os.makedirs(destination, 0o755, exist_ok=True)
    else:
        open(destination, "a").close()
    mount(source, destination, None, MS_BIND | MS_REC)
    if read_only:
        for point in mount_points_under(destination):
            remount_read_only(point)


def mount_points_under(path):
    points = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                points.append(point)
    return points


def remount_read_only(point):
    flags = os.statvfs(point).f_flag & _KEPT_FLAGS
    mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)


def make_dev(dev):
    """What `bwrap --dev` makes: a tmpfs with the harmless devices bound from the host."""
    os.mkdir(dev, 0o755)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            open(os.path.join(dev, name), "a").close()
            mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND)
    for name, target in DEV_LINKS.items():
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    try:
        mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    except OSError:
        pass  # no pseudo-terminals then; nothing in a notebook needs one


def loopback_up():
    """A new network namespace has only `lo`, and down: bring it up, as bwrap does."""
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0x1 | 0x8 | 0x40)  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(sock.fileno(), 0x8914, request)  # SIOCSIFFLAGS


def close_fds(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(uid):
    """What setpriv --reuid --regid --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs does."""
    global _step
    _step = "dropping the bounding set"
    with open("/proc/sys/kernel/cap_last_cap") as last:
        for cap in range(int(last.read()) + 1):
            prctl(PR_CAPBSET_DROP, cap)
    _step = "switching to the sandbox uid"
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _step = "clearing the capabilities"
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), data), "capset")
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _step = "setting no_new_privs"
    prctl(PR_SET_NO_NEW_PRIVS, 1)


# -- the kernel ---------------------------------------------------------------------------------


def blas_threads(count):
    """The template loaded numpy's OpenBLAS with one thread (a pool would make the fork unsafe);
    give the kernel the pool a cold start gets from OMP_NUM_THREADS."""
    if count <= 1:
        return
    with open("/proc/self/maps") as maps:
        libraries = {line.split()[-1] for line in maps if "openblas" in line.split()[-1].lower() and ".so" in line}
    for path in libraries:
        library = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(library, name):
                getattr(library, name)(count)
                break


def start_kernel(request, status_fd):
    global _step
    try:
        _step = "starting a new session"
        os.setsid()
        prctl(PR_SET_DUMPABLE, 1)  # what exec would restore: the kernel may read its own /proc/self
        _step = "setting the environment"
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["PWD"] = os.getcwd()  # as bwrap --chdir sets it
        _step = "closing inherited files"
        close_fds(keep={0, 1, 2, status_fd})
        _step = "reseeding the random generators"
        import numpy

        numpy.random.seed()  # Python's `random` reseeds itself at fork
        blas_threads(int(request["env"].get("OMP_NUM_THREADS", "1")))
        # What `python -m ipykernel_launcher -f CONN` sees: its argv, and sys.path without the
        # cwd, which the launcher removes and IPython adds back as "" (a student's own modules import).
        import ipykernel

        sys.argv = [os.path.join(os.path.dirname(os.path.dirname(ipykernel.__file__)), "ipykernel_launcher.py"),
                    "-f", request["connection_file"]]
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        report(status_fd, "ready")
        os.close(status_fd)
    except BaseException as error:  # noqa: BLE001
        report(status_fd, f"error {_step}: {type(error).__name__}: {error}")
        os._exit(1)
    from ipykernel import kernelapp

    try:
        kernelapp.IPKernelApp.launch_instance(argv=["-f", request["connection_file"]])
    except SystemExit as done:
        os._exit(done.code if isinstance(done.code, int) else 1)
    os._exit(0)
