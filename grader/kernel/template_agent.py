"""The warm template's agent: runs in the students' Python, started by grader/kernel/template.py.

Its source (grader/kernel/template_sandbox.py, then this file) is sent as `python -c` (`grader`
is not importable in the students' environment). It imports once what its children need, then
only waits on a socket for fork requests. It never runs student code and never calls into torch
(no thread pools: a fork copies only the calling thread; no CUDA: a driver initialised before a
fork is unusable after it). Two warm-ups, one template each:
- "kernel": ipykernel, IPython, zmq, numpy, torch, matplotlib's inline backend's drawing;
- "scorer": torch, safetensors, transformers' Auto classes and the classes of the allowed
  architectures (transformers imports them lazily, on first use), for the homework's infer.py.

Per request (one JSON message + three fds: the child's log, a status pipe, a lifeline pipe):
- first child: joins the submission's cgroups, sets the rlimits, points stdio at the log,
  unshares the mount/pid/net/ipc/uts/cgroup namespaces, forks pid 1 of the new pid namespace,
  writes "pid N" and exits (pid 1 is re-parented to the worker, a child subreaper);
- pid 1: builds a new root on a tmpfs (what bwrap builds, plus the request's extra mounts),
  pivots into it, drops every privilege to the slot's uid, forks the payload, then reaps and
  exits with the payload's status, or at once when the worker's lifeline hangs up (its death
  takes the namespace down);
- the payload: new session, the sandbox's environment only, no inherited fd but 0/1/2, fresh
  RNG seeds, writes "ready", then runs, in-process, request["run"]: "kernel" (ipykernel, as
  `python -m ipykernel_launcher`) or "script" (request["argv"], as `python -I SCRIPT ARGS...`).
Anything failing before "ready" is written to the status pipe as "error <step>: <reason>".
"""

import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import sys
import threading

RLIMITS = {"as": resource.RLIMIT_AS, "nproc": resource.RLIMIT_NPROC, "fsize": resource.RLIMIT_FSIZE,
           "cpu": resource.RLIMIT_CPU, "core": resource.RLIMIT_CORE}

_sock = None  # the socket to the worker (the template's only channel)


def report(fd, line):
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass


# -- the template -----------------------------------------------------------------------------


def warm_up(ahead=("torch._dynamo",)):
    """What every kernel imports first; nothing here starts a thread or runs a torch op.

    `ahead`: modules the run's assignments use besides. torch._dynamo (with sympy, 2 CPU-s): a
    torch.optim step and torch.func's transforms import it on first use; it starts no thread.
    Not matplotlib_inline (its package imports .backend_inline, whose import hooks into the running
    IPython shell: that exists only in the kernel, so the kernel imports it, cheaply, after this)."""
    import importlib

    import IPython  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401 - what the inline backend draws with (fonts loaded)
    import matplotlib.figure  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import zmq  # noqa: F401
    from ipykernel import ipkernel, kernelapp  # noqa: F401

    for name in ahead:
        importlib.import_module(name)
    # What IPKernelApp imports as it starts (0.1 CPU-s of every kernel): ipykernel's debugger (debugpy,
    # pydevd), IPython's debugger, completer and history (sqlite3), tornado's asyncio loop, psutil.
    # Optional: a kernel environment without one of them starts as it would have.
    for name in ("ipykernel.debugger", "IPython.core.debugger", "IPython.core.completerlib",
                 "IPython.core.oinspect", "IPython.extensions.storemagic", "psutil", "sqlite3",
                 "tornado.platform.asyncio"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def warm_up_scorer(architectures=()):
    """What infer.py imports, and what loading a sequence classifier of one of `architectures`
    (with its config and tokenizer classes) imports: the first one 1,500 modules, the rest a few each.
    Names this transformers lacks are skipped (the child then imports what it needs, as a cold start)."""
    import numpy  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    for architecture, model_type in architectures:
        tokenizers = TOKENIZER_MAPPING_NAMES.get(model_type) or ()
        tokenizers = tokenizers if isinstance(tokenizers, (tuple, list)) else (tokenizers,)
        names = [architecture, CONFIG_MAPPING_NAMES.get(model_type)]
        names += [name + suffix for name in tokenizers if name for suffix in ("", "Fast")]
        for name in filter(None, names):
            getattr(transformers, name, None)
    if touched := cuda_touched():  # the children, which get the GPUs, could not use them
        raise RuntimeError(touched)


WARM_UPS = {"kernel": warm_up, "scorer": warm_up_scorer}


def cuda_touched():
    """Why a child forked now could not use a GPU, or None: the CUDA driver initialised (cuInit, which
    opens /dev/nvidia*), or torch's CUDA state set up. The driver library merely loaded is fine: the
    child's first CUDA call initialises it, after the fork."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/nvidia"):
            return f"{target} was opened during the imports"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "torch initialised CUDA during the imports"
    with open("/proc/self/maps") as maps:
        drivers = {line.split()[-1] for line in maps if "libcuda.so" in line.rsplit("/", 1)[-1]}
    for path in drivers:
        try:  # before cuInit every driver call answers CUDA_ERROR_NOT_INITIALIZED (3), and does nothing
            status = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY).cuDeviceGetCount(ctypes.byref(ctypes.c_int()))
        except (OSError, AttributeError) as error:
            return f"the CUDA driver ({path}) is loaded and cannot be asked whether it was initialised: {error}"
        if status != 3:
            return f"the CUDA driver was initialised during the imports (cuDeviceGetCount returned {status})"
    return None


def serve(fd, warm="kernel", *args):
    """Answer fork requests until the worker goes (its end of the socket closes)."""
    global _sock
    _sock = socket.socket(fileno=fd)
    try:
        WARM_UPS[warm](*args)
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
        os.dup2(null if request.get("stdout") == "null" else log_fd, 1)  # "null": only stderr is kept
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


# -- pid 1: the new root, the dropped privileges, the payload, reaping ------------------------


def init(request, status_fd, lifeline_fd):
    global _step
    try:
        build_root(request)
        _step = "closing inherited files"
        close_fds(keep={0, 1, 2, status_fd, lifeline_fd})
        _step = "entering the work folder"
        os.chdir(request["workdir"])
        drop_privileges(request["uid"])
        _step = f"starting the {request.get('run', 'kernel')}"
        kernel = os.fork()
        if kernel == 0:
            os.close(lifeline_fd)
            RUNS[request.get("run", "kernel")](request, status_fd)
        os.close(status_fd)
    except BaseException as error:  # noqa: BLE001
        report(status_fd, f"error {_step}: {type(error).__name__}: {error}")
        os._exit(1)
    reap(kernel, lifeline_fd)


def reap(kernel, lifeline_fd):
    """Reap every process of the namespace; leave with the payload's status, or when the worker dies."""
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


# -- the payload: a kernel or a script ------------------------------------------------------


def blas_threads(count):
    """The template loaded numpy's OpenBLAS with one thread (a pool would make the fork unsafe);
    give the payload the pool a cold start gets from OMP_NUM_THREADS."""
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


def enter_process(request, status_fd):
    """What exec would give a fresh process: its own session, only its environment and 0/1/2, new seeds."""
    global _step
    _step = "starting a new session"
    os.setsid()
    prctl(PR_SET_DUMPABLE, 1)  # what exec would restore: the payload may read its own /proc/self
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


def start_kernel(request, status_fd):
    global _step
    try:
        enter_process(request, status_fd)
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


def run_script(request, status_fd):
    """request["argv"] (a script and its arguments) as `python -I` runs it: as __main__, sys.path
    without the script's folder or the cwd; its exit status is the process's."""
    global _step
    try:
        enter_process(request, status_fd)
        _step = "starting the script"
        import runpy
        import traceback

        sys.argv = list(request["argv"])
        while sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        report(status_fd, "ready")
        os.close(status_fd)
    except BaseException as error:  # noqa: BLE001
        report(status_fd, f"error {_step}: {type(error).__name__}: {error}")
        os._exit(1)
    code, script = 0, sys.argv[0]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            print(done.code, file=sys.stderr)
    except BaseException as error:  # noqa: BLE001 - as the interpreter would: the traceback on stderr, status 1
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename != script:
            frames = frames.tb_next  # from the script's own frame on, without runpy's and this agent's
        traceback.print_exception(type(error), error, frames or error.__traceback__)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(code)


RUNS = {"kernel": start_kernel, "script": run_script}
