# Instruction-set levels, in order: the one list of them.  The Cython core cimports
# these as C constants (a comparison against a level is one integer compare in the
# hot loop); core/models.py reads this same file for the Python names, so the two
# cannot drift apart.  One `NAME = value` per line, nothing else inside the enum.
cdef enum:
    ISA_8086 = 0
    ISA_186 = 1
    ISA_286 = 2
    ISA_386 = 3
    ISA_486 = 4
    ISA_586 = 5
    ISA_686 = 6
