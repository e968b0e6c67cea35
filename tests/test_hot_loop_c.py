"""The CPU's hot loop compiles to plain C: no call into the Python C API.

A Python object in the instruction path (a module-level constant Cython keeps as a
Python int, a tuple indexed per instruction, a dict lookup) costs more than the whole
instruction should, and nothing else notices it: the behaviour stays right and only
the speed drops (issue 11 found a third of the time there).  This reads the C that
Cython generated for core/cpu.pyx (setup.py build_ext writes core/cpu.c beside it) and
checks the bodies of the hot functions.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYX = ROOT / "core" / "cpu.pyx"
GENERATED = ROOT / "core" / "cpu.c"

# Every instruction goes through these (the run loop, decode, fetch, memory access,
# the arithmetic, stack and string helpers); cold paths (descriptor loads, task
# switches, CPUID, MSRs, the debugger's reporting) may use Python and are not listed.
HOT = ("run_slice", "run_one", "exec_one", "exec_generic", "dc_loop", "dc_decode", "dc_reject",
       "dc_run_mem", "dc_ea",
       "mmio_read", "mmio_write", "exec_onebyte", "exec_twobyte", "decode_modrm",
       "save_state", "rd", "wr", "rd_lin", "rd_lin_slow", "wr_lin", "wr_lin_slow",
       "phys", "phys_w", "translate", "htag", "check_map", "hptr_flush",
       "fetch8", "fetch8_slow", "fw_open", "fetch16", "fetch32", "fetch_imm", "fetch_slow",
       "get_reg", "set_reg", "get_rm", "set_rm", "alu", "inc_dec", "shift", "cond",
       "push", "pop", "jump_rel", "near_jump", "group3", "group45", "string_op", "load_seg",
       # With the debugger or the trace recorder armed every instruction goes through
       # these as well (recording runs at about half the speed of not recording).
       "dbg_exec", "dbg_before", "dbg_after", "rd_hooked", "wr_hooked", "trace_insn_begin",
       "trace_insn_end", "trace_flush_regs", "trace_flush_gprs", "trace_memw", "probe_lin")

# Python C API calls, and Cython's helpers that wrap them.  The reference-count
# bookkeeping macros Cython emits in every function (__Pyx_RefNanny*) compile to
# nothing in a normal build and are not counted.
PY_CALL = re.compile(r"\b(Py[A-Z]\w*_\w+|_Py\w+|__Pyx_(?!RefNanny)\w+)\s*\(")


def _bodies():
    if not GENERATED.exists():
        pytest.fail("core/cpu.c is missing: build first (python setup.py build_ext --inplace)")
    if GENERATED.stat().st_mtime < PYX.stat().st_mtime:
        pytest.fail("core/cpu.c is older than core/cpu.pyx: rebuild before testing")
    src = GENERATED.read_text()
    bodies = {}
    for name in HOT:
        # Cython names a cdef method of core.cpu._CPU __pyx_f_4core_3cpu_4_CPU_<name>.
        m = re.search(r"^static [^\n;]*\b__pyx_f_4core_3cpu_4_CPU_%s\([^\n;]*\{\n" % name,
                      src, re.M)
        assert m, "no definition of _CPU.%s in core/cpu.c (renamed? update HOT)" % name
        bodies[name] = src[m.end():src.index("\n}\n", m.end())]
    return bodies


def test_hot_functions_do_not_call_the_python_c_api():
    found = {}
    for name, body in _bodies().items():
        calls = sorted(set(PY_CALL.findall(body)))
        if calls:
            # Cython's comments quote the .pyx line that produced the code below them.
            lines = sorted(set(re.findall(r'"core/cpu\.pyx":(\d+)', body)))
            found[name] = (calls, lines[:12])
    assert not found, "Python C API in the hot loop (function: calls, cpu.pyx lines): %r" % found


def test_opcode_dispatch_is_a_switch():
    # Cython emits a C switch for an if/elif chain only when every test compares the
    # opcode with constants; one range test turns the whole chain into comparisons.
    bodies = _bodies()
    for name in ("exec_onebyte", "exec_twobyte"):
        assert "switch (__pyx_v_op)" in bodies[name], "%s dispatches by a chain of tests" % name
    assert "switch (__pyx_v_e->form)" in bodies["dc_loop"], "dc_loop dispatches by a chain of tests"


def test_the_hot_helpers_are_declared_always_in_line_by_their_generated_names():
    # core/cpu.pyx declares alu_c, inc_dec_c, shift32_imm, rd_fast, wr_fast, dc_get, dc_put,
    # dc_op, dc_reg_first, dc_first_alu, dc_first_incdec, dc_first_shift, dc_trace_end
    # and trace_known_done always_inline in C, by the names Cython gives them, so that
    # GCC's unit-growth limit cannot leave a call on each fused ALU
    # instruction, memory access or recorded instruction in dc_loop.  Were the names to
    # change, the declarations would name nothing and the calls would come back
    # unnoticed: each must name a definition.
    src = GENERATED.read_text()
    for name in ("alu_c", "inc_dec_c", "shift32_imm", "rd_fast", "wr_fast", "dc_get", "dc_put",
                 "dc_op", "dc_reg_first", "dc_first_alu", "dc_first_incdec", "dc_first_shift",
                 "dc_trace_end", "trace_known_done"):
        full = "__pyx_f_4core_3cpu_4_CPU_" + name
        assert re.search(r"always_inline\)\) (uint32_t|void) %s\(" % full, src), name
        assert re.search(r"^static [^\n;]*\b%s\([^\n;]*\{\n" % full, src, re.M), name


def test_the_check_sees_a_python_operation():
    # The pattern catches what such code compiles to (a boxed int, a rich compare, a
    # module global), so an empty result above means something.
    sample = ("__pyx_t_1 = __Pyx_PyLong_From_int(x);\n"
              "__pyx_t_2 = __Pyx_GetModuleGlobalName(__pyx_n_s_ISA_386);\n"
              "__pyx_t_3 = __Pyx_PyObject_CompareBoolGe_int_object(__pyx_t_1, __pyx_t_2);\n"
              "__Pyx_RefNannySetupContext(\"f\", 0);\n"
              "r = PyDict_GetItem(d, k);\n")
    assert sorted(set(PY_CALL.findall(sample))) == [
        "PyDict_GetItem", "__Pyx_GetModuleGlobalName", "__Pyx_PyLong_From_int",
        "__Pyx_PyObject_CompareBoolGe_int_object"]
