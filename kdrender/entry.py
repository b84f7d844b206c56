"""The ``kdrender`` console script: ``generate`` and ``--version`` skip click, everything else goes through it.

Both paths run under a last-resort handler: a bug in kdrender prints one line
("kdrender: internal error ...; a bug in kdrender: ...") and exits 3, never a Python traceback
(which could quote input values in its frames and would land in CI logs or Argo CD's UI).
``--debug`` anywhere on the command line, or ``KDRENDER_DEBUG=1`` (for ``generate``: the plugin
env ``ARGOCD_ENV_KDRENDER_DEBUG=1``), shows the traceback instead.
"""

import os
import sys

INTERNAL_ERROR = 3
DEBUG_VARS = ("KDRENDER_DEBUG", "ARGOCD_ENV_KDRENDER_DEBUG")


def _debug(argv: list, environ) -> bool:
    return "--debug" in argv or any(environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in DEBUG_VARS)


def guarded(run, debug: bool = False) -> int:
    """Run ``run()`` (returns or raises SystemExit with the exit code) under the last-resort handler."""
    try:
        code = run()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing left to say
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        code = 1
    except BaseException as exc:  # noqa: BLE001 - the point of a last-resort handler
        if debug:
            import traceback

            traceback.print_exc()
        # the exception's text is not shown: it may quote input (secrets included)
        what = "out of memory" if isinstance(exc, MemoryError) else type(exc).__name__
        how = "the trace above" if debug else "the trace (run it again with --debug, or KDRENDER_DEBUG=1)"
        sys.stderr.write(f"kdrender: internal error ({what}); a bug in kdrender: report it with the command "
                         f"that failed and {how}\n")
        code = INTERNAL_ERROR
    return code


def console() -> None:
    """The ``kdrender`` console script (and ``python -m kdrender``): :func:`main`, leaving at once
    after ``generate`` (see :func:`_leave`)."""
    main(leave_at_once=True)


def _leave(code) -> None:
    """Exit without the interpreter's tear-down (freeing every module and object: about 6 ms of a
    ``generate`` that takes 50, issue 12).  Everything ``generate`` writes is closed by the time it
    returns; stdout and stderr are flushed here, and a failed flush is a failure (exit 1), never a
    silent 0 with part of the output missing."""
    if isinstance(code, str):  # as sys.exit("message") would: the message, exit 1
        sys.stderr.write(code + "\n")
        code = 1
    code = 0 if code is None else code
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a closed or broken stdout: the output did not get out
        code = code or 1
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - nowhere left to say it
        pass
    os._exit(code if isinstance(code, int) and 0 <= code <= 255 else 1)


def main(leave_at_once: bool = False) -> None:
    argv = sys.argv[1:]
    debug = _debug(argv, os.environ)
    if "--debug" in argv:
        argv = [a for a in argv if a != "--debug"]
        sys.argv[1:] = argv
    if argv == ["generate"]:
        from .generate import main as generate

        code = guarded(generate, debug)
        if leave_at_once:
            _leave(code)
        sys.exit(code)
    if argv == ["--version"]:  # as click prints it; the sidecar image has no click
        from . import __version__

        print(f"kdrender, version {__version__}")
        return

    def cli() -> int:
        from .cli import main as click_main

        return click_main()

    sys.exit(guarded(cli, debug))
