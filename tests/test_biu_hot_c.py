"""The 8086/8088 bus model's per-clock and per-instruction code compiles to plain C.

What makes core/biu.pyx fast enough to be the 8086/8088's default timing is that a clock of
the BIU and the building of an instruction's EU operations touch no Python object (a
Python int for a clock, a tuple per operation, as core/biu8086.py has them, cost more than
the work).  As tests/test_hot_loop_c.py does for the CPU, this reads the C that Cython
generated (core/biu.c) and checks the bodies of those functions.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYX = ROOT / "core" / "biu.pyx"
GENERATED = ROOT / "core" / "biu.c"

# Every clock: the BIU's state machine and the queue.
PER_CLOCK = ("BIU_room", "BIU_room_at_t3", "BIU_take", "BIU_untake", "BIU_begin", "BIU_fetch",
             "BIU_eu_begin", "BIU_tick", "rd8")
# Every instruction: decoding and the recipes writing the operation array.  These may
# only hold the error path of a failed allocation (the traceback Cython adds there).
PER_INSTRUCTION = ("BusTiming_decode", "BusTiming_ea_base", "BusTiming_add", "BusTiming_i_",
                   "BusTiming_q_", "BusTiming_xfer", "BusTiming_mem_xfer", "BusTiming_ea_ops",
                   "BusTiming_rm_op", "BusTiming_dsl", "BusTiming_eu_ops", "BusTiming_taken",
                   "BusTiming_r_mul", "BusTiming_r_div", "BusTiming_r_imul",
                   "BusTiming_r_idiv", "BusTiming_r_string", "cord_clocks", "popcount")
ERROR_PATH = {"__Pyx_AddTraceback", "PyErr_NoMemory"}

PY_CALL = re.compile(r"\b(Py[A-Z]\w*_\w+|_Py\w+|__Pyx_(?!RefNanny)\w+)\s*\(")


def _body(src, name):
    # Cython names a cdef function of core.biu __pyx_f_4core_3biu_<name> (a method: the
    # class name's length and name first, e.g. 3BIU_tick).
    m = re.search(r"^static [^\n;]*\b__pyx_f_4core_3biu_\d*%s\([^\n;]*\{\n" % name, src, re.M)
    assert m, "no definition of %s in core/biu.c (renamed? update the lists)" % name
    return src[m.end():src.index("\n}\n", m.end())]


def test_bus_model_hot_functions_do_not_call_the_python_c_api():
    if not GENERATED.exists():
        pytest.fail("core/biu.c is missing: build first (python setup.py build_ext --inplace)")
    if GENERATED.stat().st_mtime < PYX.stat().st_mtime:
        pytest.fail("core/biu.c is older than core/biu.pyx: rebuild before testing")
    src = GENERATED.read_text()
    found = {}
    for names, allowed in ((PER_CLOCK, set()), (PER_INSTRUCTION, ERROR_PATH)):
        for name in names:
            calls = set(PY_CALL.findall(_body(src, name))) - allowed
            if calls:
                found[name] = sorted(calls)
    assert not found, "Python C API in the bus model's hot code: %r" % found
