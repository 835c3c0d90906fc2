/* fiber_aarch64.S — the fiber context switch for AArch64 (AAPCS64).
 *
 * Saves x19-x30, d8-d15 (the callee-saved low halves of v8-v15) and FPCR on
 * the suspending stack; FPCR is written back only when it differs, because a
 * write to it can serialize the pipeline and almost every fiber runs with the
 * default.
 *
 * void *weft__ctx_switch_asm(void **from_sp, void *to_sp, void *transfer);
 * (fiber.c passes a fourth argument, NULL: here the C side calls
 * weft__ctx_resumed after the switch.)
 *
 * Frame (176 bytes, low to high): x19..x30, d8..d15, fpcr, pad
 */
#if defined(__aarch64__) && !defined(WEFT_UCONTEXT)

    .text
    .globl  weft__ctx_switch_asm
    .hidden weft__ctx_switch_asm
    .type   weft__ctx_switch_asm, %function
    .p2align 6 /* a cache line of its own (fiber_x86_64.S) */
weft__ctx_switch_asm:
    .cfi_startproc
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x10, sp
    str     x10, [x0]
    mov     sp, x1
    ldr     x10, [sp, #160]
    cmp     x9, x10
    b.eq    1f
    msr     fpcr, x10
1:
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    mov     x0, x2
    ret
    .cfi_endproc
    .size   weft__ctx_switch_asm, .-weft__ctx_switch_asm

/* First code of a fresh context: x19 holds the entry, x0 the transfer. */
    .globl  weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type   weft__ctx_trampoline, %function
    .p2align 4
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    blr     x19
    brk     #0
    .cfi_endproc
    .size   weft__ctx_trampoline, .-weft__ctx_trampoline

#endif

    .section .note.GNU-stack, "", %progbits
