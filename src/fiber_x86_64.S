/* fiber_x86_64.S — the fiber context switch for x86-64 (System V ABI).
 *
 * Saves the callee-saved registers and the FP control state (MXCSR, x87
 * control word) on the suspending stack, and loads the resumed side's. The
 * MXCSR is loaded unconditionally, as Boost.Context does: comparing it first
 * meant reading back what stmxcsr had just stored, and on AMD EPYC (Zen) that
 * load waits for the stmxcsr: 7.7 ns per switch against 5.6 ns with an
 * unconditional ldmxcsr, which costs 0.3 ns there (a standalone A/B of the
 * variants, 2026-12-01). The x87 control word is compared first (fnstcw's
 * store forwards at once) and reloaded only when it differs: that saves
 * another 0.3 ns, and fldcw is the slower load on older cores.
 * (The MXCSR's sticky exception flags now travel with their fiber too.)
 *
 * void *weft__ctx_switch_asm(void **from_sp, void *to_sp, void *transfer,
 *                            void (*resumed)(void));
 *   rdi = where to store our stack pointer, rsi = stack to resume,
 *   rdx = value the resumed side sees returned (and, for a fresh context, as
 *   its entry's first argument), rcx = called (when not NULL) on the resumed
 *   stack before the resumed side goes on.
 *
 * It leaves with pop+jmp, not ret: ret would jump to the other fiber's
 * return address while the CPU's return-stack predictor expects ours, a
 * misprediction on every switch (measured here: 12.9 ns per switch with ret,
 * 3.5 ns with pop+jmp, whose target the indirect predictor learns).
 *
 * `resumed` is called from here, not by the C code after the switch returns,
 * for the same predictor: then a switch at the end of a C function can be its
 * tail jump, and a task that yields is resumed straight in its own caller.
 * With a call and a return around every switch instead, each resumed task
 * returned through the other task's return address (yield_many: 50M against
 * 150M yields/s).
 *
 * Frame (low to high): [mxcsr:4][x87cw:2][pad:2] r15 r14 r13 r12 rbx rbp ret
 */
#if defined(__x86_64__) && !defined(WEFT_UCONTEXT)

    .text
    .globl  weft__ctx_switch_asm
    .hidden weft__ctx_switch_asm
    .type   weft__ctx_switch_asm, @function
    /* A cache line of its own, as -falign-functions=64 gives the C code of
     * release builds: where the switch starts moved the raw switch by 8%
     * between builds whose C code alone had changed. */
    .p2align 6
weft__ctx_switch_asm:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movzwl  4(%rsp), %r9d       /* our x87 control word */
    movq    %rsi, %rsp          /* now on the other stack */
    ldmxcsr (%rsp)
    movzwl  4(%rsp), %r10d
    cmpl    %r9d, %r10d
    jne     .Lload_x87
.Lx87_done:
    testq   %rcx, %rcx
    jnz     .Lresumed
.Lresumed_done:
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    movq    %rdx, %rax
    movq    %rdx, %rdi
    popq    %r8
    jmpq    *%r8
.Lload_x87:
    fldcw   4(%rsp)
    jmp     .Lx87_done
.Lresumed:
    /* rsp is 16-byte aligned here (the frame's base). rbx is about to be
     * reloaded from the frame and the callee keeps it: it carries rdx. */
    movq    %rdx, %rbx
    callq   *%rcx
    movq    %rbx, %rdx
    jmp     .Lresumed_done
    .cfi_endproc
    .size   weft__ctx_switch_asm, .-weft__ctx_switch_asm

/* First code of a fresh context: r12 holds the entry, rdi the transfer. The
 * undefined return address ends debugger backtraces here. */
    .globl  weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type   weft__ctx_trampoline, @function
    .p2align 4
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    callq   *%r12
    ud2
    .cfi_endproc
    .size   weft__ctx_trampoline, .-weft__ctx_trampoline

#endif

    .section .note.GNU-stack, "", @progbits
