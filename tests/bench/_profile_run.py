"""`python _profile_run.py REPORT -m module [args]`: runs a module under pyinstrument (whole main thread,
async_mode disabled so event-loop idle time shows as such) and writes a text report when it exits — also
on SystemExit, which uvicorn's CLI raises after a graceful SIGTERM shutdown."""

from __future__ import annotations

import runpy
import signal
import sys

from pyinstrument import Profiler


def main() -> None:
    report, flag, module, *rest = sys.argv[1:]
    assert flag == "-m"
    sys.argv = [module, *rest]
    # uvicorn restores this handler after its graceful shutdown and re-raises SIGTERM: exit cleanly then.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profiler.stop()
        with open(report, "w") as out:
            out.write(profiler.output_text(unicode=True, color=False, show_all=False))
        with open(report.removesuffix(".txt") + "-flat.txt", "w") as out:  # self time per function
            out.write(profiler.output_text(unicode=True, color=False, flat=True))


if __name__ == "__main__":
    main()
