"""The opcode table: the single source of truth for decoding, lengths and ISA gating.

Each row is `key mnemonic operands isa [flags]`:
  key       one-byte opcode `00`, two-byte `0F AF`, group member `80/3` (ModR/M reg field)
  operands  the Intel manual's operand notation (Appendix A of the SDM):
              E = ModR/M r/m, G = ModR/M reg, M = memory-only r/m, S = segment reg in reg,
              C/D = control/debug reg in reg, R = register-only r/m,
              I = immediate, J = relative offset, A = far pointer, O = moffs;
              P = MMX register in reg, Q = MMX register or memory in r/m,
              N = MMX register in r/m (a memory form is #UD);
            size suffixes b (byte), w (word), d (dword), q (quadword),
            v (word/dword by operand size), z (word/dword immediate),
            p (far pointer: 16:16 or 16:32);
            plain names (AL, eAX, DX, CL, 1) are implicit operands.
  isa       the first CPU that has it: 86 186 286 386 486 586 686
  flags     L = LOCK allowed (with a memory destination); P = prefix;
            +name = needs the facility the model field `has_<name>` says it has, besides
            the ISA level (+mmx: the MMX instructions came with the Pentium with MMX
            technology, not with every 586 or 686; CPUID.1:EDX.MMX reports them)
The CPU (core/cpu.pyx) builds its C decode arrays from this table at import; the
debugger's length decoder and names use it too.  The 8086/8088 run some undefined
opcodes as aliases of others (60-6F, C0/C1, C8/C9, F1, 0F = POP CS): see ALIASES_8086.
"""
from core.models import ISA_8086, ISA_186, ISA_286, ISA_386, ISA_486, ISA_586, ISA_686

TABLE = """
00 ADD Eb,Gb 86 L
01 ADD Ev,Gv 86 L
02 ADD Gb,Eb 86
03 ADD Gv,Ev 86
04 ADD AL,Ib 86
05 ADD eAX,Iz 86
06 PUSH ES 86
07 POP ES 86
08 OR Eb,Gb 86 L
09 OR Ev,Gv 86 L
0A OR Gb,Eb 86
0B OR Gv,Ev 86
0C OR AL,Ib 86
0D OR eAX,Iz 86
0E PUSH CS 86
10 ADC Eb,Gb 86 L
11 ADC Ev,Gv 86 L
12 ADC Gb,Eb 86
13 ADC Gv,Ev 86
14 ADC AL,Ib 86
15 ADC eAX,Iz 86
16 PUSH SS 86
17 POP SS 86
18 SBB Eb,Gb 86 L
19 SBB Ev,Gv 86 L
1A SBB Gb,Eb 86
1B SBB Gv,Ev 86
1C SBB AL,Ib 86
1D SBB eAX,Iz 86
1E PUSH DS 86
1F POP DS 86
20 AND Eb,Gb 86 L
21 AND Ev,Gv 86 L
22 AND Gb,Eb 86
23 AND Gv,Ev 86
24 AND AL,Ib 86
25 AND eAX,Iz 86
26 ES: - 86 P
27 DAA - 86
28 SUB Eb,Gb 86 L
29 SUB Ev,Gv 86 L
2A SUB Gb,Eb 86
2B SUB Gv,Ev 86
2C SUB AL,Ib 86
2D SUB eAX,Iz 86
2E CS: - 86 P
2F DAS - 86
30 XOR Eb,Gb 86 L
31 XOR Ev,Gv 86 L
32 XOR Gb,Eb 86
33 XOR Gv,Ev 86
34 XOR AL,Ib 86
35 XOR eAX,Iz 86
36 SS: - 86 P
37 AAA - 86
38 CMP Eb,Gb 86
39 CMP Ev,Gv 86
3A CMP Gb,Eb 86
3B CMP Gv,Ev 86
3C CMP AL,Ib 86
3D CMP eAX,Iz 86
3E DS: - 86 P
3F AAS - 86
40 INC eAX 86
41 INC eCX 86
42 INC eDX 86
43 INC eBX 86
44 INC eSP 86
45 INC eBP 86
46 INC eSI 86
47 INC eDI 86
48 DEC eAX 86
49 DEC eCX 86
4A DEC eDX 86
4B DEC eBX 86
4C DEC eSP 86
4D DEC eBP 86
4E DEC eSI 86
4F DEC eDI 86
50 PUSH eAX 86
51 PUSH eCX 86
52 PUSH eDX 86
53 PUSH eBX 86
54 PUSH eSP 86
55 PUSH eBP 86
56 PUSH eSI 86
57 PUSH eDI 86
58 POP eAX 86
59 POP eCX 86
5A POP eDX 86
5B POP eBX 86
5C POP eSP 86
5D POP eBP 86
5E POP eSI 86
5F POP eDI 86
60 PUSHA - 186
61 POPA - 186
62 BOUND Gv,M 186
63 ARPL Ew,Gw 286
64 FS: - 386 P
65 GS: - 386 P
66 OPSIZE: - 386 P
67 ADSIZE: - 386 P
68 PUSH Iz 186
69 IMUL Gv,Ev,Iz 186
6A PUSH Ib 186
6B IMUL Gv,Ev,Ib 186
6C INSB - 186
6D INSW - 186
6E OUTSB - 186
6F OUTSW - 186
70 JO Jb 86
71 JNO Jb 86
72 JB Jb 86
73 JNB Jb 86
74 JZ Jb 86
75 JNZ Jb 86
76 JBE Jb 86
77 JA Jb 86
78 JS Jb 86
79 JNS Jb 86
7A JP Jb 86
7B JNP Jb 86
7C JL Jb 86
7D JNL Jb 86
7E JLE Jb 86
7F JG Jb 86
80/0 ADD Eb,Ib 86 L
80/1 OR Eb,Ib 86 L
80/2 ADC Eb,Ib 86 L
80/3 SBB Eb,Ib 86 L
80/4 AND Eb,Ib 86 L
80/5 SUB Eb,Ib 86 L
80/6 XOR Eb,Ib 86 L
80/7 CMP Eb,Ib 86
81/0 ADD Ev,Iz 86 L
81/1 OR Ev,Iz 86 L
81/2 ADC Ev,Iz 86 L
81/3 SBB Ev,Iz 86 L
81/4 AND Ev,Iz 86 L
81/5 SUB Ev,Iz 86 L
81/6 XOR Ev,Iz 86 L
81/7 CMP Ev,Iz 86
82/0 ADD Eb,Ib 86 L
82/1 OR Eb,Ib 86 L
82/2 ADC Eb,Ib 86 L
82/3 SBB Eb,Ib 86 L
82/4 AND Eb,Ib 86 L
82/5 SUB Eb,Ib 86 L
82/6 XOR Eb,Ib 86 L
82/7 CMP Eb,Ib 86
83/0 ADD Ev,Ib 86 L
83/1 OR Ev,Ib 86 L
83/2 ADC Ev,Ib 86 L
83/3 SBB Ev,Ib 86 L
83/4 AND Ev,Ib 86 L
83/5 SUB Ev,Ib 86 L
83/6 XOR Ev,Ib 86 L
83/7 CMP Ev,Ib 86
84 TEST Eb,Gb 86
85 TEST Ev,Gv 86
86 XCHG Eb,Gb 86 L
87 XCHG Ev,Gv 86 L
88 MOV Eb,Gb 86
89 MOV Ev,Gv 86
8A MOV Gb,Eb 86
8B MOV Gv,Ev 86
8C MOV Ew,Sw 86
8D LEA Gv,M 86
8E MOV Sw,Ew 86
8F/0 POP Ev 86
90 NOP - 86
91 XCHG eCX,eAX 86
92 XCHG eDX,eAX 86
93 XCHG eBX,eAX 86
94 XCHG eSP,eAX 86
95 XCHG eBP,eAX 86
96 XCHG eSI,eAX 86
97 XCHG eDI,eAX 86
98 CBW - 86
99 CWD - 86
9A CALLF Ap 86
9B WAIT - 86
9C PUSHF - 86
9D POPF - 86
9E SAHF - 86
9F LAHF - 86
A0 MOV AL,Ob 86
A1 MOV eAX,Ov 86
A2 MOV Ob,AL 86
A3 MOV Ov,eAX 86
A4 MOVSB - 86
A5 MOVSW - 86
A6 CMPSB - 86
A7 CMPSW - 86
A8 TEST AL,Ib 86
A9 TEST eAX,Iz 86
AA STOSB - 86
AB STOSW - 86
AC LODSB - 86
AD LODSW - 86
AE SCASB - 86
AF SCASW - 86
B0 MOV AL,Ib 86
B1 MOV CL,Ib 86
B2 MOV DL,Ib 86
B3 MOV BL,Ib 86
B4 MOV AH,Ib 86
B5 MOV CH,Ib 86
B6 MOV DH,Ib 86
B7 MOV BH,Ib 86
B8 MOV eAX,Iv 86
B9 MOV eCX,Iv 86
BA MOV eDX,Iv 86
BB MOV eBX,Iv 86
BC MOV eSP,Iv 86
BD MOV eBP,Iv 86
BE MOV eSI,Iv 86
BF MOV eDI,Iv 86
C0/0 ROL Eb,Ib 186
C0/1 ROR Eb,Ib 186
C0/2 RCL Eb,Ib 186
C0/3 RCR Eb,Ib 186
C0/4 SHL Eb,Ib 186
C0/5 SHR Eb,Ib 186
C0/6 SAL Eb,Ib 186
C0/7 SAR Eb,Ib 186
C1/0 ROL Ev,Ib 186
C1/1 ROR Ev,Ib 186
C1/2 RCL Ev,Ib 186
C1/3 RCR Ev,Ib 186
C1/4 SHL Ev,Ib 186
C1/5 SHR Ev,Ib 186
C1/6 SAL Ev,Ib 186
C1/7 SAR Ev,Ib 186
C2 RET Iw 86
C3 RET - 86
C4 LES Gv,Mp 86
C5 LDS Gv,Mp 86
C6/0 MOV Eb,Ib 86
C7/0 MOV Ev,Iz 86
C8 ENTER Iw,Ib 186
C9 LEAVE - 186
CA RETF Iw 86
CB RETF - 86
CC INT3 - 86
CD INT Ib 86
CE INTO - 86
CF IRET - 86
D0/0 ROL Eb,1 86
D0/1 ROR Eb,1 86
D0/2 RCL Eb,1 86
D0/3 RCR Eb,1 86
D0/4 SHL Eb,1 86
D0/5 SHR Eb,1 86
D0/6 SAL Eb,1 86
D0/7 SAR Eb,1 86
D1/0 ROL Ev,1 86
D1/1 ROR Ev,1 86
D1/2 RCL Ev,1 86
D1/3 RCR Ev,1 86
D1/4 SHL Ev,1 86
D1/5 SHR Ev,1 86
D1/6 SAL Ev,1 86
D1/7 SAR Ev,1 86
D2/0 ROL Eb,CL 86
D2/1 ROR Eb,CL 86
D2/2 RCL Eb,CL 86
D2/3 RCR Eb,CL 86
D2/4 SHL Eb,CL 86
D2/5 SHR Eb,CL 86
D2/6 SAL Eb,CL 86
D2/7 SAR Eb,CL 86
D3/0 ROL Ev,CL 86
D3/1 ROR Ev,CL 86
D3/2 RCL Ev,CL 86
D3/3 RCR Ev,CL 86
D3/4 SHL Ev,CL 86
D3/5 SHR Ev,CL 86
D3/6 SAL Ev,CL 86
D3/7 SAR Ev,CL 86
D4 AAM Ib 86
D5 AAD Ib 86
D6 SALC - 86
D7 XLAT - 86
D8 ESC Ev 86
D9 ESC Ev 86
DA ESC Ev 86
DB ESC Ev 86
DC ESC Ev 86
DD ESC Ev 86
DE ESC Ev 86
DF ESC Ev 86
E0 LOOPNZ Jb 86
E1 LOOPZ Jb 86
E2 LOOP Jb 86
E3 JCXZ Jb 86
E4 IN AL,Ib 86
E5 IN eAX,Ib 86
E6 OUT Ib,AL 86
E7 OUT Ib,eAX 86
E8 CALL Jz 86
E9 JMP Jz 86
EA JMPF Ap 86
EB JMP Jb 86
EC IN AL,DX 86
ED IN eAX,DX 86
EE OUT DX,AL 86
EF OUT DX,eAX 86
F0 LOCK: - 86 P
F1 INT1 - 386
F2 REPNE: - 86 P
F3 REP: - 86 P
F4 HLT - 86
F5 CMC - 86
F6/0 TEST Eb,Ib 86
F6/1 TEST Eb,Ib 86
F6/2 NOT Eb 86 L
F6/3 NEG Eb 86 L
F6/4 MUL Eb 86
F6/5 IMUL Eb 86
F6/6 DIV Eb 86
F6/7 IDIV Eb 86
F7/0 TEST Ev,Iz 86
F7/1 TEST Ev,Iz 86
F7/2 NOT Ev 86 L
F7/3 NEG Ev 86 L
F7/4 MUL Ev 86
F7/5 IMUL Ev 86
F7/6 DIV Ev 86
F7/7 IDIV Ev 86
F8 CLC - 86
F9 STC - 86
FA CLI - 86
FB STI - 86
FC CLD - 86
FD STD - 86
FE/0 INC Eb 86 L
FE/1 DEC Eb 86 L
FF/0 INC Ev 86 L
FF/1 DEC Ev 86 L
FF/2 CALL Ev 86
FF/3 CALLF Mp 86
FF/4 JMP Ev 86
FF/5 JMPF Mp 86
FF/6 PUSH Ev 86
0F00/0 SLDT Ew 286
0F00/1 STR Ew 286
0F00/2 LLDT Ew 286
0F00/3 LTR Ew 286
0F00/4 VERR Ew 286
0F00/5 VERW Ew 286
0F01/0 SGDT M 286
0F01/1 SIDT M 286
0F01/2 LGDT M 286
0F01/3 LIDT M 286
0F01/4 SMSW Ew 286
0F01/6 LMSW Ew 286
0F01/7 INVLPG M 486
0F02 LAR Gv,Ew 286
0F03 LSL Gv,Ew 286
0F06 CLTS - 286
0F08 INVD - 486
0F09 WBINVD - 486
0F0B UD2 - 586
0F20 MOV Rd,Cd 386
0F21 MOV Rd,Dd 386
0F22 MOV Cd,Rd 386
0F23 MOV Dd,Rd 386
0F30 WRMSR - 586
0F31 RDTSC - 586
0F32 RDMSR - 586
0F33 RDPMC - 586
0F34 SYSENTER - 686
0F35 SYSEXIT - 686
0F40 CMOVO Gv,Ev 686
0F41 CMOVNO Gv,Ev 686
0F42 CMOVB Gv,Ev 686
0F43 CMOVNB Gv,Ev 686
0F44 CMOVZ Gv,Ev 686
0F45 CMOVNZ Gv,Ev 686
0F46 CMOVBE Gv,Ev 686
0F47 CMOVA Gv,Ev 686
0F48 CMOVS Gv,Ev 686
0F49 CMOVNS Gv,Ev 686
0F4A CMOVP Gv,Ev 686
0F4B CMOVNP Gv,Ev 686
0F4C CMOVL Gv,Ev 686
0F4D CMOVNL Gv,Ev 686
0F4E CMOVLE Gv,Ev 686
0F4F CMOVG Gv,Ev 686
0F80 JO Jz 386
0F81 JNO Jz 386
0F82 JB Jz 386
0F83 JNB Jz 386
0F84 JZ Jz 386
0F85 JNZ Jz 386
0F86 JBE Jz 386
0F87 JA Jz 386
0F88 JS Jz 386
0F89 JNS Jz 386
0F8A JP Jz 386
0F8B JNP Jz 386
0F8C JL Jz 386
0F8D JNL Jz 386
0F8E JLE Jz 386
0F8F JG Jz 386
0F90 SETO Eb 386
0F91 SETNO Eb 386
0F92 SETB Eb 386
0F93 SETNB Eb 386
0F94 SETZ Eb 386
0F95 SETNZ Eb 386
0F96 SETBE Eb 386
0F97 SETA Eb 386
0F98 SETS Eb 386
0F99 SETNS Eb 386
0F9A SETP Eb 386
0F9B SETNP Eb 386
0F9C SETL Eb 386
0F9D SETNL Eb 386
0F9E SETLE Eb 386
0F9F SETG Eb 386
0FA0 PUSH FS 386
0FA1 POP FS 386
0FA2 CPUID - 486
0FA3 BT Ev,Gv 386
0FA4 SHLD Ev,Gv,Ib 386
0FA5 SHLD Ev,Gv,CL 386
0FA8 PUSH GS 386
0FA9 POP GS 386
0FAB BTS Ev,Gv 386 L
0FAC SHRD Ev,Gv,Ib 386
0FAD SHRD Ev,Gv,CL 386
0FAF IMUL Gv,Ev 386
0FB0 CMPXCHG Eb,Gb 486 L
0FB1 CMPXCHG Ev,Gv 486 L
0FB2 LSS Gv,Mp 386
0FB3 BTR Ev,Gv 386 L
0FB4 LFS Gv,Mp 386
0FB5 LGS Gv,Mp 386
0FB6 MOVZX Gv,Eb 386
0FB7 MOVZX Gv,Ew 386
0FBA/4 BT Ev,Ib 386
0FBA/5 BTS Ev,Ib 386 L
0FBA/6 BTR Ev,Ib 386 L
0FBA/7 BTC Ev,Ib 386 L
0FBB BTC Ev,Gv 386 L
0FBC BSF Gv,Ev 386
0FBD BSR Gv,Ev 386
0FBE MOVSX Gv,Eb 386
0FBF MOVSX Gv,Ew 386
0FC0 XADD Eb,Gb 486 L
0FC1 XADD Ev,Gv 486 L
0FC7/1 CMPXCHG8B Mq 586 L
0FC8 BSWAP eAX 486
0FC9 BSWAP eCX 486
0FCA BSWAP eDX 486
0FCB BSWAP eBX 486
0FCC BSWAP eSP 486
0FCD BSWAP eBP 486
0FCE BSWAP eSI 486
0FCF BSWAP eDI 486
0F60 PUNPCKLBW Pq,Qd 586 +mmx
0F61 PUNPCKLWD Pq,Qd 586 +mmx
0F62 PUNPCKLDQ Pq,Qd 586 +mmx
0F63 PACKSSWB Pq,Qq 586 +mmx
0F64 PCMPGTB Pq,Qq 586 +mmx
0F65 PCMPGTW Pq,Qq 586 +mmx
0F66 PCMPGTD Pq,Qq 586 +mmx
0F67 PACKUSWB Pq,Qq 586 +mmx
0F68 PUNPCKHBW Pq,Qq 586 +mmx
0F69 PUNPCKHWD Pq,Qq 586 +mmx
0F6A PUNPCKHDQ Pq,Qq 586 +mmx
0F6B PACKSSDW Pq,Qq 586 +mmx
0F6E MOVD Pd,Ed 586 +mmx
0F6F MOVQ Pq,Qq 586 +mmx
0F71/2 PSRLW Nq,Ib 586 +mmx
0F71/4 PSRAW Nq,Ib 586 +mmx
0F71/6 PSLLW Nq,Ib 586 +mmx
0F72/2 PSRLD Nq,Ib 586 +mmx
0F72/4 PSRAD Nq,Ib 586 +mmx
0F72/6 PSLLD Nq,Ib 586 +mmx
0F73/2 PSRLQ Nq,Ib 586 +mmx
0F73/6 PSLLQ Nq,Ib 586 +mmx
0F74 PCMPEQB Pq,Qq 586 +mmx
0F75 PCMPEQW Pq,Qq 586 +mmx
0F76 PCMPEQD Pq,Qq 586 +mmx
0F77 EMMS - 586 +mmx
0F7E MOVD Ed,Pd 586 +mmx
0F7F MOVQ Qq,Pq 586 +mmx
0FD1 PSRLW Pq,Qq 586 +mmx
0FD2 PSRLD Pq,Qq 586 +mmx
0FD3 PSRLQ Pq,Qq 586 +mmx
0FD5 PMULLW Pq,Qq 586 +mmx
0FD8 PSUBUSB Pq,Qq 586 +mmx
0FD9 PSUBUSW Pq,Qq 586 +mmx
0FDB PAND Pq,Qq 586 +mmx
0FDC PADDUSB Pq,Qq 586 +mmx
0FDD PADDUSW Pq,Qq 586 +mmx
0FDF PANDN Pq,Qq 586 +mmx
0FE1 PSRAW Pq,Qq 586 +mmx
0FE2 PSRAD Pq,Qq 586 +mmx
0FE5 PMULHW Pq,Qq 586 +mmx
0FE8 PSUBSB Pq,Qq 586 +mmx
0FE9 PSUBSW Pq,Qq 586 +mmx
0FEB POR Pq,Qq 586 +mmx
0FEC PADDSB Pq,Qq 586 +mmx
0FED PADDSW Pq,Qq 586 +mmx
0FEF PXOR Pq,Qq 586 +mmx
0FF1 PSLLW Pq,Qq 586 +mmx
0FF2 PSLLD Pq,Qq 586 +mmx
0FF3 PSLLQ Pq,Qq 586 +mmx
0FF5 PMADDWD Pq,Qq 586 +mmx
0FF8 PSUBB Pq,Qq 586 +mmx
0FF9 PSUBW Pq,Qq 586 +mmx
0FFA PSUBD Pq,Qq 586 +mmx
0FFC PADDB Pq,Qq 586 +mmx
0FFD PADDW Pq,Qq 586 +mmx
0FFE PADDD Pq,Qq 586 +mmx
"""

# What the 8086/8088 do with the opcodes later CPUs defined: the microcode decodes
# fewer bits, so these run as the named instruction (SingleStepTests 8086 metadata).
ALIASES_8086 = {**{0x60 + i: 0x70 + i for i in range(16)},
                0xC0: 0xC2, 0xC1: 0xC3, 0xC8: 0xCA, 0xC9: 0xCB, 0xF1: 0xF0}

_ISA = {"86": ISA_8086, "186": ISA_186, "286": ISA_286, "386": ISA_386,
        "486": ISA_486, "586": ISA_586, "686": ISA_686}

# Operand tokens that imply a ModR/M byte.
_MODRM_TOKENS = ("E", "G", "M", "S", "C", "D", "R", "P", "Q", "N")
# Facilities an entry can need besides its ISA level (the "+name" flag), in the bit
# order of the CPU's per-opcode feature mask.
FEATURES = ("mmx",)


class Entry:
    __slots__ = ("opcode", "reg", "mnemonic", "operands", "isa", "lockable", "prefix",
                 "feature")

    def __init__(self, opcode, reg, mnemonic, operands, isa, lockable, prefix, feature=None):
        self.opcode, self.reg, self.mnemonic = opcode, reg, mnemonic
        self.operands, self.isa, self.lockable, self.prefix = operands, isa, lockable, prefix
        self.feature = feature

    def available(self, model):
        """Whether `model` (a core.models.Model) decodes this entry."""
        return self.isa <= model.isa and (self.feature is None
                                          or getattr(model, "has_" + self.feature))

    @property
    def has_modrm(self):
        # Operand tokens are a capital addressing method then a lower-case size
        # (Eb, Gv, Mp); all-capital names (DL, CS) are implicit registers.
        return self.reg is not None or any(o[:1] in _MODRM_TOKENS and o[1:2].islower()
                                           for o in self.operands)

    def __repr__(self):
        return "Entry(%s %s %s)" % (key(self.opcode, self.reg), self.mnemonic, ",".join(self.operands))


def key(opcode, reg=None):
    """The conformance-suite key of an opcode: '00', '0FAF', 'F6.7'."""
    k = ("%02X" % opcode) if opcode < 0x100 else ("0F%02X" % (opcode & 0xFF))
    return k if reg is None else "%s.%d" % (k, reg)


def _parse():
    entries = {}
    for line in TABLE.strip().splitlines():
        parts = line.split()
        code, mnem, ops, isa = parts[:4]
        flags = "".join(p for p in parts[4:] if not p.startswith("+"))
        feature = next((p[1:] for p in parts[4:] if p.startswith("+")), None)
        if feature is not None and feature not in FEATURES:
            raise ValueError("unknown facility %r in %r" % (feature, line))
        reg = None
        if "/" in code:
            code, r = code.split("/")
            reg = int(r)
        op = int(code, 16) if len(code) == 2 else 0x100 | int(code[2:], 16)
        operands = () if ops == "-" else tuple(ops.split(","))
        entries[(op, reg)] = Entry(op, reg, mnem, operands, _ISA[isa], "L" in flags, "P" in flags,
                                   feature)
    return entries


ENTRIES = _parse()
GROUPS = sorted({op for (op, reg) in ENTRIES if reg is not None})


def lookup(opcode, reg=None):
    """The entry for an opcode (and ModR/M reg for a group), or None if undefined."""
    if opcode in GROUPS:
        return ENTRIES.get((opcode, reg))
    return ENTRIES.get((opcode, None))


def has_modrm(opcode):
    if opcode in GROUPS:
        return True
    e = ENTRIES.get((opcode, None))
    return e is not None and e.has_modrm


def _imm_size(tok, opsize, adsize):
    if tok in ("Ib", "Jb"):
        return 1
    if tok == "Iw":
        return 2
    if tok in ("Iz", "Jz"):
        return opsize
    if tok == "Iv":
        return opsize
    if tok == "Ap":
        return opsize + 2
    if tok in ("Ob", "Ov"):
        return adsize
    return 0


def insn_length(code, code32=False, isa=ISA_686, features=FEATURES):
    """Length in bytes of the instruction at the start of `code` (bytes), from this table.

    Returns None when the bytes do not start a defined instruction for `isa` with the
    facilities named in `features` (by default all of them).
    """
    i, opsize, adsize = 0, 4 if code32 else 2, 4 if code32 else 2
    while i < len(code):
        b = code[i]
        e = ENTRIES.get((b, None))
        if e is not None and e.prefix and e.isa <= isa:
            if b == 0x66:
                opsize = 6 - opsize
            elif b == 0x67:
                adsize = 6 - adsize
            i += 1
            continue
        break
    if i >= len(code):
        return None
    op = code[i]
    i += 1
    if isa == ISA_8086:
        op = ALIASES_8086.get(op, op)
    elif op == 0x0F:
        if i >= len(code):
            return None
        op = 0x100 | code[i]
        i += 1
    reg = None
    modrm_len = 0
    if has_modrm(op) or (isa == ISA_8086 and op in GROUPS):
        if i >= len(code):
            return None
        m = code[i]
        reg = (m >> 3) & 7
        mod, rm = m >> 6, m & 7
        modrm_len = 1
        if mod != 3:
            if adsize == 2:
                modrm_len += {0: 2 if rm == 6 else 0, 1: 1, 2: 2}[mod]
            else:
                sib_base = code[i + 1] & 7 if rm == 4 and i + 1 < len(code) else None
                if rm == 4:
                    modrm_len += 1
                if mod == 0 and (rm == 5 or sib_base == 5):
                    modrm_len += 4
                else:
                    modrm_len += {0: 0, 1: 1, 2: 4}[mod]
    e = lookup(op, reg)
    if e is None and isa == ISA_8086 and op in GROUPS:
        e = lookup(op, 0)       # 8086 undefined group members decode like member 0
    if e is None or (e.isa > isa and isa != ISA_8086):
        return None
    if e.feature is not None and e.feature not in features:
        return None
    n = i + modrm_len
    for tok in e.operands:
        n += _imm_size(tok, opsize, adsize)
    if op in (0xF6, 0xF7) and reg in (0, 1):
        pass   # TEST's immediate is already in the operand list
    if op == 0xC8:
        pass   # ENTER Iw,Ib: both in the list
    return n
