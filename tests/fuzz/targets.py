"""The fuzz targets by name: each is a function (seed, case_dir) -> result dict with at
least "outcome" (one of tests.fuzz.OUTCOMES) and the counts the campaign adds up."""
from tests.fuzz import cpu, files, gdb, ports

TARGETS = {
    "cpu": cpu.run,
    "ports": ports.run,
    "dma": ports.run_dma,
    "files": files.run,
    "gdb": gdb.run,
}
DESCRIPTIONS = {
    "cpu": "random code (bytes and core/strategies encodings) on every model and mode",
    "ports": "random port I/O and MMIO to every claimed port and page of pc and isapc",
    "dma": "random 8237 setups driven by the floppy controller and the device API, "
           "fw_cfg DMA",
    "files": "malformed disk images, ISO/El Torito, TOML machine files, traces, input "
             "logs and keys scripts, kernels, through the cycle86 command line",
    "gdb": "random, malformed and oversized gdb remote packets to the stub over TCP",
}


# ---- the harness's own checks (tests/test_fuzz_short.py): a case that kills its
# process and one that never returns must be counted against their seeds.  Not part of
# a campaign's default targets.

def _selftest(seed, case_dir):
    import os
    from tests.fuzz import OK
    if seed % 3 == 1:
        os.abort()                 # SIGABRT, as a failed C assertion would
    if seed % 3 == 2:
        while True:                # a hang: only the parent's watchdog ends it
            pass
    return {"outcome": OK}


SELFTEST = {"_selftest": _selftest}
