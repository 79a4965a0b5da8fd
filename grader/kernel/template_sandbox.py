"""The sandbox half of the warm template's agent: the root file system bwrap would build, and the
dropped privileges (what `setpriv` does). Sent, as source, in front of template_agent.py
(grader/kernel/template.py joins the two): `grader` is not importable in the students' Python.

Nothing here runs in the template itself: only its forked children call these, as root, in their
own mount namespace, before any student byte runs.
"""

import ctypes
import os
import platform
import socket
import struct

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
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "core": "/proc/kcore", "ptmx": "pts/ptmx"}

_step = "starting"  # what the child is doing, for its error line ("error <step>: <reason>")


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



# -- the root file system and the privileges ------------------------------------------------


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
    _step = "adding the extra mounts"
    for kind, source, target in request.get("extra_mounts", ()):
        extra_mount(root, kind, source, target)
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
    for point in mount_points_under(destination):  # as bwrap's binds: nosuid and nodev, read-only if asked
        remount(point, MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0))


def extra_mount(root, kind, source, target):
    """One mount bwrap's option of that name would make (--dir, --tmpfs, --ro-bind, --dev-bind),
    in order: the homework's inputs, the held-out data masked, the GPUs (grader/homework/mounts.py)."""
    destination = root + target
    if kind == "dir":
        os.makedirs(destination, 0o755, exist_ok=True)
    elif kind == "tmpfs":  # an empty folder of root's over what was there
        mount("tmpfs", destination, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    elif kind in ("ro-bind", "dev-bind"):
        if not os.path.lexists(destination):  # a mask over an existing file of a read-only prefix is not made
            os.makedirs(os.path.dirname(destination), 0o755, exist_ok=True)
            if os.path.isdir(source):
                os.mkdir(destination, 0o755)
            else:
                open(destination, "a").close()
        mount(source, destination, None, MS_BIND | MS_REC)
        if kind == "ro-bind":  # as bwrap's: read-only, nosuid, nodev (a /dev/null mask cannot be opened)
            for point in mount_points_under(destination):
                remount_read_only(point, MS_NOSUID | MS_NODEV)
    else:
        raise ValueError(f"unknown mount {kind!r}")


def mount_points_under(path):
    points = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                points.append(point)
    return points


def remount(point, flags):
    """Remount a bind with `flags` added to those it must keep (the kernel refuses to drop a locked one)."""
    mount(None, point, None, MS_BIND | MS_REMOUNT | os.statvfs(point).f_flag & _KEPT_FLAGS | flags)


def remount_read_only(point, extra=0):
    remount(point, MS_RDONLY | extra)


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
